"""Decision -> response bytes: 302 + Location + RFC 6249 Link, JSON, HEAD, errors."""

from __future__ import annotations

import json

import pytest

from geodns.redirect.decide import Decision
from geodns.redirect.response import encode_decision, encode_error, wants_json

DATE = b"Wed, 02 Dec 2026 05:35:40 GMT"
FOUND = Decision(
    302,
    "www.example.test.",
    "https://eu1.example.test/f.iso",
    "192.0.2.21",
    (
        ("https://us1.example.test/f.iso", "192.0.2.11"),
        ("https://us2.example.test/f.iso", "192.0.2.12"),
    ),
)


def split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode("ascii").split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


def test_a_redirect_is_302_with_location_link_duplicates_and_private_no_cache() -> None:
    status, headers, body = split(
        encode_decision(
            FOUND, client="81.2.69.142", as_json=False, head=False, connection=b"", date=DATE
        )
    )
    assert status == "HTTP/1.1 302 Found"
    assert headers == {
        "Date": DATE.decode(),
        "Cache-Control": "private, no-cache",
        "Vary": "Accept",
        "Location": "https://eu1.example.test/f.iso",
        # RFC 6249 §3.2: rel=duplicate, pri 1 first
        "Link": "<https://us1.example.test/f.iso>; rel=duplicate; pri=1, "
        "<https://us2.example.test/f.iso>; rel=duplicate; pri=2",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(body)),
    }
    assert body == b"redirecting to https://eu1.example.test/f.iso\n"


def test_head_gets_the_same_headers_and_no_body_rfc9110_s9_3_2() -> None:
    get = encode_decision(FOUND, client="x", as_json=False, head=False, connection=b"", date=DATE)
    head = encode_decision(FOUND, client="x", as_json=False, head=True, connection=b"", date=DATE)
    assert split(head)[:2] == split(get)[:2]
    assert split(head)[2] == b""


def test_json_is_the_decision_as_data() -> None:
    status, headers, body = split(
        encode_decision(
            FOUND, client="81.2.69.142", as_json=True, head=False, connection=b"", date=DATE
        )
    )
    assert status == "HTTP/1.1 200 OK"
    assert headers["Content-Type"] == "application/json"
    assert "Location" not in headers and headers["Link"].startswith("<https://us1")
    assert json.loads(body) == {
        "pool": "www.example.test.",
        "client": "81.2.69.142",
        "url": "https://eu1.example.test/f.iso",
        "address": "192.0.2.21",
        "alternates": [
            {"url": "https://us1.example.test/f.iso", "address": "192.0.2.11", "pri": 1},
            {"url": "https://us2.example.test/f.iso", "address": "192.0.2.12", "pri": 2},
        ],
    }


def test_nothing_to_answer_is_a_short_503_with_retry_after_never_a_redirect() -> None:
    decision = Decision(503, "www.example.test.", reason="no member can take clients now")
    status, headers, body = split(
        encode_decision(
            decision,
            client="x",
            as_json=False,
            head=False,
            connection=b"Connection: close\r\n",
            date=DATE,
        )
    )
    assert status == "HTTP/1.1 503 Service Unavailable"
    assert "Location" not in headers
    assert (headers["Retry-After"], headers["Connection"]) == ("5", "close")
    assert body == b"no member can take clients now\n"


def test_errors_are_json_when_json_is_asked_for() -> None:
    _, headers, body = split(encode_error(404, "no pool x", as_json=True, date=DATE))
    assert (headers["Content-Type"], json.loads(body)) == (
        "application/json",
        {"error": "no pool x"},
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False),
        ("*/*", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/html, application/json;q=0.5", True),
        ("application/json;q=0", False),
        ("application/json; q=0.000", False),
    ],
)
def test_json_is_chosen_when_accept_asks_for_it(accept: str | None, expected: bool) -> None:
    assert wants_json(accept) is expected
