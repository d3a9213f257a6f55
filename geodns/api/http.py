"""How this API speaks HTTP: JSON bodies, error exceptions, ETags, cursors, query parameters.

Control plane, no I/O of its own. Handlers raise HttpError (or a geodns.errors boundary
exception) and the error middleware turns it into error_body(), the one shape of every
error the API sends: {"error", "problems": [{"where", "message"}], "request_id"}.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from geodns.api.keys import CALLER, DEPRECATIONS_LOGGED, METRICS
from geodns.errors import GeodnsError, Problem, ValidationError
from geodns.store.repository import Token

log = logging.getLogger(__name__)
JSON = dict[str, Any]
MAX_LIMIT = 1000
# arrays and objects inside one another: a pool document needs 4; beyond this a body is
# refused before any code walks it (Python's parser itself gives up near 1,000)
MAX_JSON_DEPTH = 32


class HttpError(GeodnsError):
    """An error response: status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(message)


def problem_documents(problems: Sequence[Problem]) -> list[JSON]:
    """Problems as the API shows them, in error bodies and in zone load results."""
    return [{"where": p.where, "message": p.message} for p in problems]


def error_body(message: str, problems: Sequence[Problem], request_id: str) -> JSON:
    """The one error body of the API, for every status."""
    return {"error": message, "problems": problem_documents(problems), "request_id": request_id}


def warn_deprecated(
    request: web.Request, response: web.Response, notes: Sequence[Problem]
) -> web.Response:
    """Say in the response that the request used deprecated spellings (a Warning header
    each, code 299 "miscellaneous persistent warning", as Kubernetes' API does), and log
    each kind once per process: the request still did what it asked."""
    logged = request.app[DEPRECATIONS_LOGGED]
    for note in notes:
        response.headers.add("Warning", f'299 - "{note.where}: {note.message}"')
        if note.where not in logged:
            logged.add(note.where)
            log.warning(
                "api request uses a deprecated field where=%s %s route=%s %s",
                note.where,
                note.message,
                request.method,
                request.path,
            )
    return response


def caller(request: web.Request) -> Token:
    """The token the request authenticated with (the auth middleware put it there)."""
    return request[CALLER]


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in value (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


TOO_DEEP = f"body nests arrays and objects more than {MAX_JSON_DEPTH} deep (the limit)"


async def read_object(request: web.Request) -> JSON:
    """The body as a JSON object; HttpError 400 when it is not JSON, nests too deeply or
    is not an object."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except RecursionError:
        request.app[METRICS].api_limited("json_depth")
        raise HttpError(400, TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"body is not valid JSON: {exc}") from exc
    if json_depth(body) > MAX_JSON_DEPTH:
        request.app[METRICS].api_limited("json_depth")
        raise HttpError(400, TOO_DEEP)
    if not isinstance(body, dict):
        kind = type(body).__name__ if body is not None else "null"
        raise HttpError(400, f"body must be a JSON object, got {kind}")
    return body


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: patch's members replace target's; null removes one."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def etag(version: int) -> str:
    return f'"{version}"'


_ETAG = re.compile(r'\s*(W/)?"([^"]*)"\s*')


def if_match(request: web.Request) -> set[int] | None:
    """The versions If-Match allows: None when absent or "*", else the strong ETags' versions.

    An ETag that is weak or not one of ours matches nothing (RFC 9110 §13.1.1 compares
    strongly), so a set can be empty: every write then fails with 412.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions: set[int] = set()
    for part in header.split(","):
        match = _ETAG.fullmatch(part)
        if match and not match.group(1) and match.group(2).isdigit():
            versions.add(int(match.group(2)))
    return versions


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(("v1:" + value).encode()).decode().rstrip("=")


def next_link(request: web.Request, cursor: str | None) -> str | None:
    """The URL of the next page (this one's query with cursor replaced), or None."""
    if cursor is None:
        return None
    query = dict(request.rel_url.query)
    query["cursor"] = cursor
    return str(request.rel_url.with_query(query))


class PageParams:
    """limit and cursor of a list request, plus any other query parameter problems: every
    problem is collected, then done() raises them together (ValidationError "query")."""

    def __init__(self, request: web.Request, default_limit: int = 100) -> None:
        self.query = request.query
        self.problems: list[Problem] = []
        self.limit = self.integer("limit", default_limit, 1, MAX_LIMIT)
        self.cursor: str | None = None
        if "cursor" in self.query:
            self.cursor = self.decode_cursor(self.query["cursor"])

    def add(self, name: str, message: str) -> None:
        self.problems.append(Problem(name, message))

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.query.get(name)
        if text is None:
            return default
        if re.fullmatch(r"[0-9]{1,9}", text) and low <= int(text) <= high:
            return int(text)
        self.add(name, f"must be an integer from {low} to {high}, got {text!r}")
        return default

    def decode_cursor(self, cursor: str) -> str | None:
        """The value a cursor from encode_cursor carries."""
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            text = ""
        if not text.startswith("v1:"):
            self.add("cursor", "not a cursor from a previous page's next link")
            return None
        return text[3:]

    def done(self) -> None:
        if self.problems:
            raise ValidationError("query", self.problems)


def page(request: web.Request, key: str, items: list[JSON], cursor: str | None) -> web.Response:
    """A list response {key: items, "next": url or null}, with a Link header when there is more."""
    link = next_link(request, cursor)
    response = web.json_response({key: items, "next": link})
    if link is not None:
        response.headers["Link"] = f'<{link}>; rel="next"'
    return response
