"""How one operation of the OpenAPI document is written: its parameters, responses and
the error sets operations share (geodns.api.openapi puts the paths together).

Pure data and the functions that shape it; no I/O.
"""

from __future__ import annotations

from geodns.api.schemas import JSON, STRING, error


def path_param(name: str, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": STRING,
        "description": description,
    }


def query_param(name: str, schema: JSON, description: str, required: bool = False) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


NAME = path_param("name", "pool name, with or without the trailing dot")
ADDRESS = path_param("address", "member address")
LIMIT = query_param(
    "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size, default 100"
)
CURSOR = query_param("cursor", STRING, "from the previous page's next link")
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": STRING,
    "description": 'an ETag from a read ("3"); the write fails with 412 if it is stale',
}

COMMON = {
    "401": error("no token, or an unknown or revoked one"),
    "403": error("the token's role may not do this"),
    "429": error("10 bad tokens from this address within a minute: Retry-After says when"),
    "503": error("the database is unreachable"),
}
READ_ERRORS = {**COMMON, "404": error("no such pool, member or route")}
BODY_ERRORS = {
    "400": error("the body is not a JSON object, or nests more than 32 deep"),
    "408": error("the body did not arrive within api_body_timeout_s of the headers"),
    "413": error("the body is over 1 MiB"),
    "422": error("every invalid field and why, one problem each"),
}
WRITE_ERRORS = {
    **READ_ERRORS,
    **BODY_ERRORS,
    "409": error("the name exists, or the pool kept changing"),
    "412": error("If-Match names a stale version"),
}


def op(
    summary: str,
    responses: JSON,
    *,
    params: list[JSON] | None = None,
    body: JSON | None = None,
    media: str = "application/json",
) -> JSON:
    operation: JSON = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {media: {"schema": body}}}
    return operation


def with_headers(response: JSON, headers: JSON) -> JSON:
    return {**response, "headers": headers}
