"""The API's middlewares, outermost first: the connection's head deadline, request ids,
request metrics, error bodies, tokens (with a limit on bad ones), the body's deadline.

Control plane. error_bodies is the one place the API catches Exception: anything a handler
did not mean to raise becomes a 500 with the request id, logged with its traceback. Every
error, whatever its status, has one body (error_body): {"error": what went wrong,
"problems": [{"where", "message"}] (empty unless the request was invalid),
"request_id"}.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from geodns.api.connections import connection_of
from geodns.api.http import HttpError, error_body
from geodns.api.keys import (
    AUTH_FAILURES,
    CALLER,
    CLOCK,
    METRICS,
    PERMISSIONS,
    REQUEST_ID,
    SETTINGS,
    STORE,
)
from geodns.auth import authenticate
from geodns.errors import (
    Conflict,
    NotFound,
    Problem,
    StaleVersion,
    StoreUnavailable,
    ValidationError,
)

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_GOOD_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
BEARER_CHALLENGE = 'Bearer realm="geodns"'


def route_of(request: web.Request) -> str:
    """The route's path template ("/api/v1/pools/{name}"), or "unmatched"."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or request.match_info.http_exception is not None:
        return "unmatched"
    return resource.canonical


@web.middleware
async def hold_connection(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The head is in: the connection's head deadline stops until the response is made."""
    connection = connection_of(request)
    if connection is None:
        return await handler(request)
    connection.request_started()
    try:
        return await handler(request)
    finally:
        connection.request_finished()


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request gets an id (the caller's X-Request-Id when sane), echoed in the reply."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _GOOD_ID.fullmatch(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    response = await handler(request)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        route = route_of(request)
        metrics.api_requests.labels(route, request.method, str(status)).inc()
        metrics.api_seconds.labels(route).observe(time.perf_counter() - started)


@web.middleware
async def error_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Boundary exceptions -> JSON error bodies with the status each one means."""
    try:
        return await handler(request)
    except HttpError as exc:
        return error_response(request, exc.status, exc.message, headers=exc.headers)
    except ValidationError as exc:
        return error_response(request, 422, f"invalid {exc.subject}", exc.problems)
    except StaleVersion as exc:
        return error_response(request, 412, str(exc), headers={"ETag": f'"{exc.current_version}"'})
    except Conflict as exc:
        return error_response(request, 409, str(exc))
    except NotFound as exc:
        return error_response(request, 404, str(exc))
    except StoreUnavailable as exc:
        log.warning("api store unavailable request_id=%s error=%s", request[REQUEST_ID], exc)
        return error_response(
            request, 503, f"database unavailable: {exc}", headers={"Retry-After": "1"}
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        return error_response(request, exc.status, exc.reason, headers=headers)
    except Exception:  # a bug: answer 500 and say which request, log the traceback once
        log.exception(
            "api request failed request_id=%s %s %s",
            request[REQUEST_ID],
            request.method,
            request.path,
        )
        return error_response(request, 500, "internal error; the server log has the details")


def error_response(
    request: web.Request,
    status: int,
    message: str,
    problems: Sequence[Problem] = (),
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = error_body(message, problems, request[REQUEST_ID])
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer token and role check; public routes pass, unknown ones need any valid token."""
    key = (request.method, route_of(request))
    permissions = request.app[PERMISSIONS]
    if key in permissions and permissions[key] is None:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(
            401,
            "missing bearer token: send Authorization: Bearer TOKEN "
            "(geodns token create --role ROLE --name NAME)",
            {"WWW-Authenticate": BEARER_CHALLENGE},
        )
    store = request.app.get(STORE)
    if store is None:
        raise StoreUnavailable("the store is not open yet")
    failures, address = request.app[AUTH_FAILURES], request.remote or ""
    now = request.app[CLOCK]().timestamp()
    if (wait_s := failures.retry_after_s(address, now)) is not None:
        request.app[METRICS].api_limited("auth_throttled")
        raise HttpError(
            429,
            f"too many bad tokens from {address}: more than {failures.limit - 1} within "
            f"{failures.window_s:g} s; retry after {wait_s} s",
            {"Retry-After": str(wait_s)},
        )
    found = await authenticate(store, token.strip())
    if found is None:
        if failures.failed(address, now):  # once per address and window
            request.app[METRICS].api_limited("auth_lockout")
            log.warning(
                "api bad tokens address=%s failures=%d window_s=%g: 429 until the window ends",
                address,
                failures.limit,
                failures.window_s,
            )
        raise HttpError(
            401,
            "unknown or revoked token",
            {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'},
        )
    roles = permissions.get(key)
    if roles is not None and found.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise HttpError(
            403,
            f"token {found.name} has role {found.role}; {request.method} "
            f"{key[1]} needs one of: {allowed}",
        )
    request[CALLER] = found
    return await handler(request)


@web.middleware
async def read_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the whole body before the handler, within api_body_timeout_s of the head: a
    client trickling it cannot hold the request longer (408, and the connection closes).
    Handlers then read it from memory; more than the size limit is a 413 here."""
    if request.body_exists:
        timeout_s = request.app[SETTINGS].api_body_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                await request.read()
        except ConnectionResetError:  # the client left mid-body: nobody to answer
            log.debug("api client left before its body arrived route=%s", request.path)
            return error_response(request, 400, "connection closed before the body arrived")
        except TimeoutError:
            request.app[METRICS].api_limited("body_timeout")
            message = f"request body not received within {timeout_s:g} s of its headers"
            response = error_response(request, 408, message)
            response.force_close()  # the rest of the body is not worth waiting for:
            connection = connection_of(request)
            if connection is not None:  # nor reading, so the connection closes at once
                connection.drop_input()
                request.content.feed_eof()
            return response
    return await handler(request)
