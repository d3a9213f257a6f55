"""The redirector's HTTP/1.1 listener on real loopback sockets: keep-alive, pipelining,
HTTP/1.0, limits, trusted proxies, and a new snapshot answered at once."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from geodns.dns.zonefile import load_zone_dir
from geodns.geo import open_geo
from geodns.pools.model import HealthView, MatchKind, Member, Pool, Rule
from geodns.redirect.server import HttpLimits, start_http
from geodns.redirect.service import RedirectService
from geodns.snapshot import Snapshot, SnapshotHolder, build_snapshot

DATA = Path(__file__).resolve().parents[1] / "data"
POOL = Pool(
    name="www.example.test.",
    members=(
        Member("192.0.2.11", region="us", url="https://us1.example.test"),
        Member("192.0.2.21", region="eu", url="https://eu1.example.test"),
    ),
    rules=(Rule(MatchKind.CONTINENT, "EU", ("eu", "us")),),
    default_regions=("us", "eu"),
)
HOST = b"Host: www.example.test\r\n"


def snapshot(generation: int, pool: Pool = POOL, down: frozenset[str] = frozenset()) -> Snapshot:
    geo = open_geo(str(DATA / "maxmind" / "GeoIP2-City-Test.mmdb"))
    zones = load_zone_dir(DATA / "serve").zones
    return build_snapshot(generation, zones, [pool], HealthView(down, {}), geo)


Body = Callable[[tuple[str, int], RedirectService, SnapshotHolder], Awaitable[None]]


def run(body: Body, limits: HttpLimits | None = None, **options: object) -> None:
    async def main() -> None:
        holder = SnapshotHolder(snapshot(1))
        service = RedirectService(holder, **options)  # type: ignore[arg-type]
        listeners = await start_http([("127.0.0.1", 0)], service, limits or HttpLimits())
        try:
            await body(listeners.endpoints[0], service, holder)
        finally:
            await listeners.close()

    asyncio.run(main())


async def exchange(
    address: tuple[str, int],
    raw: bytes,
    responses: int = 1,
    timeout: float = 5.0,
    heads: frozenset[int] = frozenset(),
) -> tuple[list[bytes], bool]:
    """Send raw, read responses (by Content-Length; the ones numbered in heads answer a
    HEAD: no body); also whether the server then closed the connection."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        out = []
        for i in range(responses):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if i in heads:
                length = 0
            body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
            out.append(head + body)
        try:
            rest = await asyncio.wait_for(reader.read(1), 0.5)
            closed = rest == b""
        except TimeoutError:
            closed = False
        return out, closed
    finally:
        writer.close()


def header(response: bytes, name: bytes) -> bytes | None:
    for line in response.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b": ")
        if key.lower() == name.lower():
            return value
    return None


def test_pipelined_requests_on_one_connection_are_answered_in_order_rfc9112_s9_3_2() -> None:
    async def body(address, service, holder) -> None:
        request = b"GET /a HTTP/1.1\r\n" + HOST + b"\r\n"
        head = b"HEAD /b?x=1 HTTP/1.1\r\n" + HOST + b"\r\n"
        other = b"GET /c HTTP/1.1\r\nHost: nope.example.test\r\n\r\n"
        responses, closed = await exchange(address, request + other + head, 3, heads=frozenset({2}))
        assert [r.split(b"\r\n")[0] for r in responses] == [
            b"HTTP/1.1 302 Found",
            b"HTTP/1.1 404 Not Found",
            b"HTTP/1.1 302 Found",
        ]
        assert header(responses[0], b"location") == b"https://us1.example.test/a"
        assert header(responses[2], b"location") == b"https://us1.example.test/b?x=1"
        assert not closed  # HTTP/1.1 keeps the connection

    run(body)


def test_http_1_0_closes_unless_asked_and_connection_close_is_honoured() -> None:
    async def body(address, service, holder) -> None:
        [response], closed = await exchange(address, b"GET /a HTTP/1.0\r\n" + HOST + b"\r\n")
        assert (header(response, b"connection"), closed) == (b"close", True)
        keep = b"GET /a HTTP/1.0\r\n" + HOST + b"Connection: keep-alive\r\n\r\n"
        [response], closed = await exchange(address, keep)
        assert (header(response, b"connection"), closed) == (b"keep-alive", False)
        close = b"GET /a HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
        [response], closed = await exchange(address, close)
        assert (header(response, b"connection"), closed) == (b"close", True)

    run(body)


def test_bad_requests_get_an_answer_and_a_closed_connection() -> None:
    async def body(address, service, holder) -> None:
        [response], closed = await exchange(address, b"GARBAGE\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 400 Bad Request") and closed
        big = b"GET /a HTTP/1.1\r\n" + HOST + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"
        [response], closed = await exchange(address, big)
        assert response.startswith(b"HTTP/1.1 431 ") and closed
        body_too_big = (
            b"GET /a HTTP/1.1\r\n" + HOST + b"Content-Length: 100000\r\n\r\n" + b"x" * 100000
        )
        [response], closed = await exchange(address, body_too_big)
        assert response.startswith(b"HTTP/1.1 413 ") and closed
        [response], closed = await exchange(address, b"POST /a HTTP/1.1\r\n" + HOST + b"\r\n")
        assert response.startswith(b"HTTP/1.1 405 ") and header(response, b"allow") == b"GET, HEAD"
        assert not closed
        assert service.stats.responses[("", "", 400)] == 1
        assert service.stats.responses[("", "", 431)] == 1

    run(body)


def test_a_small_body_is_read_and_ignored_and_the_next_request_answered() -> None:
    async def body(address, service, holder) -> None:
        with_body = b"GET /a HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n\r\nhello"
        responses, _ = await exchange(
            address, with_body + b"GET /b HTTP/1.1\r\n" + HOST + b"\r\n", 2
        )
        assert [header(r, b"location") for r in responses] == [
            b"https://us1.example.test/a",
            b"https://us1.example.test/b",
        ]

    run(body)


def test_idle_connections_close_and_connections_past_the_cap_are_refused() -> None:
    async def body(address, service, holder) -> None:
        reader, writer = await asyncio.open_connection(*address)
        assert await asyncio.wait_for(reader.read(1), 3) == b""  # closed by the idle timer
        writer.close()
        held = [await asyncio.open_connection(*address) for _ in range(2)]
        reader, writer = await asyncio.open_connection(*address)
        assert await asyncio.wait_for(reader.read(1), 1) == b""  # third: refused at once
        writer.close()
        for _, w in held:
            w.close()

    run(body, HttpLimits(idle_timeout_s=0.3, max_connections=2))


def test_forwarded_addresses_count_only_from_trusted_proxies() -> None:
    gb = b"X-Forwarded-For: 81.2.69.142\r\n"  # GB in MaxMind's test data: Europe -> eu

    async def trusted(address, service, holder) -> None:
        [response], _ = await exchange(address, b"GET /a HTTP/1.1\r\n" + HOST + gb + b"\r\n")
        assert header(response, b"location") == b"https://eu1.example.test/a"
        forwarded = b'Forwarded: for="81.2.69.142:1234"\r\n'
        [response], _ = await exchange(address, b"GET /a HTTP/1.1\r\n" + HOST + forwarded + b"\r\n")
        assert header(response, b"location") == b"https://eu1.example.test/a"

    async def untrusted(address, service, holder) -> None:
        [response], _ = await exchange(address, b"GET /a HTTP/1.1\r\n" + HOST + gb + b"\r\n")
        assert header(response, b"location") == b"https://us1.example.test/a"

    run(trusted, trusted=[ipaddress.ip_network("127.0.0.0/8")])
    run(untrusted, trusted=[ipaddress.ip_network("10.0.0.0/8")])
    run(untrusted)


def test_pool_in_path_and_absolute_form_targets() -> None:
    async def in_path(address, service, holder) -> None:
        request = b"GET /www.example.test/dl/f.iso?v=2 HTTP/1.1\r\nHost: redirect.example\r\n\r\n"
        [response], _ = await exchange(address, request)
        assert header(response, b"location") == b"https://us1.example.test/dl/f.iso?v=2"

    async def absolute(address, service, holder) -> None:
        request = b"GET http://www.example.test/dl HTTP/1.1\r\nHost: ignored.example\r\n\r\n"
        [response], _ = await exchange(address, request)
        assert header(response, b"location") == b"https://us1.example.test/dl"

    run(in_path, pool_in_path=True)
    run(absolute)


def test_a_published_snapshot_is_answered_by_the_next_request() -> None:
    async def body(address, service, holder) -> None:
        request = b"GET /a HTTP/1.1\r\n" + HOST + b"\r\n"
        assert header((await exchange(address, request))[0][0], b"location") == (
            b"https://us1.example.test/a"
        )
        holder.publish(snapshot(2, down=frozenset({"192.0.2.11"})))
        assert header((await exchange(address, request))[0][0], b"location") == (
            b"https://eu1.example.test/a"
        )
        closed = replace(POOL, fail_open=False)
        holder.publish(snapshot(3, closed, frozenset({"192.0.2.11", "192.0.2.21"})))
        [response], _ = await exchange(address, request)
        assert response.startswith(b"HTTP/1.1 503 ") and header(response, b"location") is None
        assert service.stats.responses[(POOL.name, "192.0.2.21", 302)] == 1
        assert service.stats.responses[(POOL.name, "", 503)] == 1

    run(body)
