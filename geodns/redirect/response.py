"""Decision -> HTTP/1.1 response bytes: 302 with Location and Link alternates, JSON, errors.

Pure: no I/O. Every response is private and revalidated (Cache-Control: private,
no-cache; RFC 9111 §5.2.2): the choice is this client's, now. Vary: Accept, because the
same request gets JSON when it asks for application/json.
"""

from __future__ import annotations

import json

from geodns.redirect.decide import FOUND, Decision

REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
COMMON = b"Cache-Control: private, no-cache\r\nVary: Accept\r\n"
TEXT = b"Content-Type: text/plain; charset=utf-8\r\n"
JSON_TYPE = b"Content-Type: application/json\r\n"
FOUND_START = b"HTTP/1.1 302 Found\r\nDate: "
FOUND_LOCATION = b"\r\n" + COMMON + b"Location: "
RETRY_AFTER_S = 5  # a 503: every member down or drained, which health may undo soon


def wants_json(accept: str | None) -> bool:
    """Whether an Accept header asks for application/json (and does not refuse it, q=0)."""
    if accept is None:
        return False
    accept = accept.lower()
    if "json" not in accept:
        return False
    for media_range in accept.split(","):
        kind, _, params = media_range.partition(";")
        if kind.strip() == "application/json":
            quality = params.replace(" ", "").partition("q=")[2][:5]
            return quality.rstrip("0.") != "" or not quality
    return False


def link_header(alternates: tuple[tuple[str, str], ...]) -> bytes:
    """RFC 6249 §3.2: the other members as duplicates, pri 1 the most preferred."""
    links = ", ".join(
        f"<{url}>; rel=duplicate; pri={i}" for i, (url, _) in enumerate(alternates, 1)
    )
    return b"Link: " + links.encode("ascii") + b"\r\n"


def encode_decision(
    decision: Decision,
    *,
    client: str,
    as_json: bool,
    head: bool,
    connection: bytes,
    date: bytes,
) -> bytes:
    """The response for a decision. connection is b"" or a whole Connection header line."""
    if decision.status != FOUND:
        extra = b"Retry-After: %d\r\n" % RETRY_AFTER_S if decision.status == 503 else b""
        return encode_error(
            decision.status,
            decision.reason,
            as_json=as_json,
            head=head,
            connection=connection + extra,
            date=date,
        )
    links = link_header(decision.alternates) if decision.alternates else b""
    if as_json:
        body = json.dumps(
            {
                "pool": decision.pool,
                "client": client,
                "url": decision.location,
                "address": decision.member,
                "alternates": [
                    {"url": url, "address": address, "pri": i}
                    for i, (url, address) in enumerate(decision.alternates, 1)
                ],
            },
            separators=(",", ":"),
        ).encode("ascii")
        return _response(200, JSON_TYPE + links + connection, body, head, date)
    # the common case, written out: one join, no helper call
    location = decision.location.encode("ascii")
    body = b"redirecting to " + location + b"\n"
    return b"".join(
        (
            FOUND_START,
            date,
            FOUND_LOCATION,
            location,
            b"\r\n",
            links,
            TEXT,
            connection,
            b"Content-Length: %d\r\n\r\n" % len(body),
            b"" if head else body,
        )
    )


def encode_error(
    status: int,
    message: str,
    *,
    as_json: bool = False,
    head: bool = False,
    connection: bytes = b"",
    date: bytes,
    extra: bytes = b"",
) -> bytes:
    """A short error body (text, or {"error": ...} as JSON)."""
    if as_json:
        body = json.dumps({"error": message}).encode("utf-8")
        return _response(status, JSON_TYPE + connection + extra, body, head, date)
    body = message.encode("utf-8") + b"\n"
    return _response(status, TEXT + connection + extra, body, head, date)


def _response(status: int, lines: bytes, body: bytes, head: bool, date: bytes) -> bytes:
    # RFC 9110 §9.3.2: HEAD gets the headers GET would, Content-Length included, no body
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status].encode("ascii")),
            b"Date: ",
            date,
            b"\r\n",
            COMMON,
            lines,
            b"Content-Length: %d\r\n\r\n" % len(body),
            b"" if head else body,
        )
    )
