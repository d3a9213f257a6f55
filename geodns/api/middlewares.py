"""The API's middlewares, outermost first: request ids, request metrics, error bodies, tokens.

Control plane. error_bodies is the one place the API catches Exception: anything a handler
did not mean to raise becomes a 500 with the request id, logged with its traceback. Every
error, whatever its status, has one body (error_body): {"error": what went wrong,
"problems": [{"where", "message"}] (empty unless the request was invalid),
"request_id"}.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from geodns.api.http import HttpError, error_body
from geodns.api.keys import CALLER, METRICS, PERMISSIONS, REQUEST_ID, STORE
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
    found = await authenticate(store, token.strip())
    if found is None:
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
