"""The API under a client that does not play fair (issue 12 §4), through the real app on
the site `geodns serve` runs: a request head or body trickled in is cut at its deadline,
a full API makes room by closing the connection waiting longest (or answers 503 when
every connection is busy), a deeply nested body is a 400 naming the depth limit on every
route that reads JSON, and bad tokens from one address earn a 429 for the rest of the
window while other addresses are served."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from api_client import Api, error_body, run_api, settings_for

from geodns.api.http import MAX_JSON_DEPTH, TOO_DEEP
from geodns.api.keys import CLOCK

# (method, path) of every route whose handler reads a JSON body
JSON_ROUTES = [
    ("POST", "/api/v1/pools"),
    ("PUT", "/api/v1/pools/lb.example.test."),
    ("PATCH", "/api/v1/pools/lb.example.test."),
    ("PUT", "/api/v1/pools/lb.example.test./members/192.0.2.11"),
    ("PATCH", "/api/v1/pools/lb.example.test./members/192.0.2.11"),
    ("POST", "/api/v1/health/reports"),
    ("POST", "/api/v1/tokens"),
    ("POST", "/api/v1/dnssec/example.test."),
    ("POST", "/api/v1/dnssec/example.test./rollover"),
]
POOL = {
    "name": "lb.example.test.",
    "members": [{"address": "192.0.2.11"}, {"address": "192.0.2.12"}],
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Any:
    return settings_for(database_url, tmp_path)


def nested(levels: int) -> Any:
    """levels arrays inside one another around a 0."""
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


async def open_raw(api: Api) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = api.base.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before closing, or None when it kept the connection open."""
    try:
        async with asyncio.timeout(seconds):
            return await reader.read()
    except TimeoutError:
        return None
    except ConnectionResetError:  # closed while the client was still sending
        return b""


async def limited(api: Api, limit: str) -> float:
    """geodns_api_limited_total{limit} as /metrics shows it (the series exist from 0)."""
    text = (await api.call("GET", "/metrics", token=None)).body
    found = re.search(rf'^geodns_api_limited_total{{limit="{limit}"}} (\S+)$', text, re.M)
    assert found, f"no geodns_api_limited_total for {limit} in /metrics"
    return float(found.group(1))


async def received_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Whatever the server sent within seconds (b"": nothing yet)."""
    try:
        async with asyncio.timeout(seconds):
            return await reader.read(65536)
    except TimeoutError:
        return b""


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES, ids=lambda v: str(v))
def test_a_body_of_100000_nested_brackets_is_400_naming_the_depth_limit(settings, method, path):
    async def body(api: Api) -> None:
        created = await api.call("POST", "/api/v1/pools", POOL)
        assert created.status == 201
        json_type = {"Content-Type": "application/json"}
        assert await limited(api, "json_depth") == 0
        brackets = "[" * 100_000 + "]" * 100_000  # beyond Python's own parser's recursion
        reply = await api.call(method, path, data=brackets, headers=json_type)
        assert (reply.status, reply.body) == (400, error_body(TOO_DEEP))
        just_over = json.dumps({"members": nested(MAX_JSON_DEPTH)})  # the object makes 33
        reply = await api.call(method, path, data=just_over, headers=json_type)
        assert (reply.status, reply.body) == (400, error_body(TOO_DEEP))
        assert await limited(api, "json_depth") == 2  # both refusals counted
        after = await api.call("GET", "/api/v1/pools/lb.example.test.")
        assert after.body == created.body  # nothing was written

    run_api(settings, body)


def test_the_deepest_body_allowed_is_judged_on_its_fields_not_its_depth(settings):
    async def body(api: Api) -> None:
        deepest = {"name": "lb.example.test.", "members": nested(MAX_JSON_DEPTH - 1)}
        reply = await api.call("POST", "/api/v1/pools", deepest)
        assert reply.status == 422  # 32 deep: read, then refused for what it says
        assert reply.body["problems"][0]["where"] == "members[0]"

    run_api(settings, body)


def test_a_request_head_trickled_in_is_closed_at_its_deadline(settings):
    async def body(api: Api) -> None:
        reader, writer = await open_raw(api)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        closed = None
        while closed is None and time.monotonic() - started < 5:
            writer.write(b"X")  # a byte of another header every 0.2 s
            closed = await closed_within(reader, 0.2)
        assert closed == b"", "a trickle kept the head's connection open"
        assert time.monotonic() - started < 3  # deadline 1 s; loaded machine: slack
        writer.close()
        # a whole request on a new connection is answered as usual
        assert (await api.call("GET", "/healthz", token=None)).status == 200
        assert await limited(api, "header_timeout") == 1

    run_api(replace(settings, api_header_timeout_s=1.0), body)


def test_a_body_trickled_in_is_408_at_its_deadline_and_the_connection_closes(settings):
    async def body(api: Api) -> None:
        reader, writer = await open_raw(api)
        head = (
            "POST /api/v1/pools HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api.tokens['admin']}\r\nContent-Length: 1000\r\n\r\n"
        )
        writer.write(head.encode() + b'{"name": ')
        answer = b""
        started = time.monotonic()
        while not answer and time.monotonic() - started < 5:
            writer.write(b" ")
            answer = await received_within(reader, 0.2)
        assert answer, "a trickled body kept the request open"
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 408 Request Timeout"
        message = "request body not received within 1 s of its headers"
        request_id = json.loads(rest.partition(b"\r\n\r\n")[2])["request_id"]
        assert json.loads(rest.partition(b"\r\n\r\n")[2]) == error_body(message, [], request_id)
        assert await closed_within(reader, 2) is not None  # the rest is not waited for
        writer.close()
        assert (await api.call("GET", "/api/v1/pools")).body["pools"] == []
        assert await limited(api, "body_timeout") == 1

    run_api(replace(settings, api_body_timeout_s=1.0), body)


def test_a_full_api_closes_the_connection_waiting_longest_for_a_new_one(settings):
    async def body(api: Api) -> None:
        held = [await open_raw(api) for _ in range(4)]
        for _, writer in held:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        await asyncio.sleep(0.1)  # let the server accept them all
        reply = await api.call("GET", "/healthz", token=None)
        assert reply.status == 200
        oldest_reader = held[0][0]
        assert await closed_within(oldest_reader, 2) == b""
        for _, writer in held:
            writer.close()
        assert await limited(api, "connections_made_room") >= 1  # the scrape may make room too
        assert await limited(api, "connections_full") == 0

    run_api(replace(settings, api_max_connections=4, api_header_timeout_s=30.0), body)


def test_a_full_api_whose_connections_are_all_busy_answers_503_with_the_error_body(settings):
    async def body(api: Api) -> None:
        head = (
            "POST /api/v1/pools HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {api.tokens['admin']}\r\nContent-Length: 100\r\n\r\n{{"
        )
        busy = [await open_raw(api) for _ in range(3)]
        for _, writer in busy:
            writer.write(head.encode())  # each is reading its body: busy, not waiting
        await asyncio.sleep(0.3)
        reader, writer = await open_raw(api)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await closed_within(reader, 3)
        assert answer is not None
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 503 Service Unavailable"
        headers, _, content = rest.partition(b"\r\n\r\n")
        assert b"Retry-After: 1" in headers.split(b"\r\n")
        document = json.loads(content)
        message = "the API is serving 3 connections, its limit: retry shortly"
        assert document == error_body(message, [], document["request_id"])
        writer.close()
        for _, other in busy:
            other.close()
        await asyncio.sleep(0.1)  # room again for the scrape
        assert await limited(api, "connections_full") == 1

    run_api(replace(settings, api_max_connections=3, api_body_timeout_s=30.0), body)


class Clock:
    """The app's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_ten_bad_tokens_from_one_address_earn_429_for_the_window_others_unaffected(
    settings, caplog
):
    clock = Clock()

    def configure(app: web.Application) -> None:
        app[CLOCK] = clock

    async def body(api: Api) -> None:
        for _ in range(10):
            assert (await api.call("GET", "/api/v1/pools", token="gdns_guess")).status == 401
        clock.now += timedelta(seconds=20)
        for token in ("gdns_guess", "admin"):  # the good token too, from this address
            reply = await api.call("GET", "/api/v1/pools", token=token)
            message = (
                "too many bad tokens from 127.0.0.1: more than 9 within 60 s; retry after 40 s"
            )
            assert (reply.status, reply.body) == (429, error_body(message))
            assert reply.headers["Retry-After"] == "40"
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=connector) as other:
            headers = {"Authorization": f"Bearer {api.tokens['reader']}"}
            async with other.get(api.base + "/api/v1/pools", headers=headers) as response:
                assert response.status == 200
        assert (await api.call("GET", "/healthz", token=None)).status == 200  # public: open
        clock.now += timedelta(seconds=40)  # the window is over
        assert (await api.call("GET", "/api/v1/pools", token="admin")).status == 200
        assert (await api.call("GET", "/api/v1/pools", token="gdns_guess")).status == 401
        assert await limited(api, "auth_lockout") == 1  # one address, one window
        assert await limited(api, "auth_throttled") == 2  # the guess and the good token

    with caplog.at_level(logging.WARNING, logger="geodns.api.middlewares"):
        run_api(settings, body, configure)
    logged = [r.getMessage() for r in caplog.records if "api bad tokens" in r.getMessage()]
    assert logged == [
        "api bad tokens address=127.0.0.1 failures=10 window_s=60: 429 until the window ends"
    ]
