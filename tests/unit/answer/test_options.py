"""COOKIE and NSID in replies, on the reference path, the cache and the C table alike:
a fresh server cookie for each client on every reply to a client cookie (RFC 7873 §5.2,
RFC 9018), added to a shared compiled reply as it is sent, never kept in it; NSID only
when asked (RFC 5001 §2.1); BADCOOKIE over UDP with require_server_cookie (RFC 7873
§5.2.3); never rate limited with a valid server cookie."""

from __future__ import annotations

import dataclasses
import random
import socket

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest
from answer_queries import NAMES, SOURCES, make_holder

from geodns.answer import _native
from geodns.answer.cache import CachingAnswerer
from geodns.answer.context import Transport
from geodns.answer.defences import Defences
from geodns.answer.native import NativeUdp
from geodns.answer.options import ReplyOptions, packed
from geodns.answer.packet import PacketAnswerer
from geodns.answer.rrl import RateLimiter, RrlConfig
from geodns.dns.cookie import CookieSecrets, make_server_cookie, server_cookie_valid
from geodns.snapshot import SnapshotHolder

NOW = 1_800_000_000
SECRETS = CookieSecrets(bytes(range(16)), bytes(range(16, 32)), NOW + 3600)
NSID = b"node-a"


def holder() -> SnapshotHolder:
    return SnapshotHolder(dataclasses.replace(make_holder().current, cookie_secrets=SECRETS))


def defences(**kwargs: object) -> Defences:
    options = ReplyOptions(nsid=NSID, clock=lambda: float(NOW), **kwargs)  # type: ignore[arg-type]
    return Defences(options=options, clock=lambda: float(NOW))


def with_options(
    name: str,
    client: bytes | None,
    server: bytes = b"",
    nsid: bool = False,
    rdtype: str = "A",
    payload: int = 1232,
) -> bytes:
    options: list[dns.edns.Option] = []
    if client is not None:
        options.append(dns.edns.CookieOption(client, server))
    if nsid:
        options.append(dns.edns.NSIDOption(b""))
    message = dns.message.make_query(name, rdtype, use_edns=0, options=options, payload=payload)
    return message.to_wire()


def reply_cookie(reply: bytes) -> tuple[bytes, bytes] | None:
    message = dns.message.from_wire(reply)
    for option in message.options:
        if option.otype == dns.edns.OptionType.COOKIE:
            assert isinstance(option, dns.edns.CookieOption)
            return option.client, option.server
    return None


def reply_nsid(reply: bytes) -> bytes | None:
    for option in dns.message.from_wire(reply).options:
        if option.otype == dns.edns.OptionType.NSID:
            assert isinstance(option, dns.edns.NSIDOption)
            return option.nsid
    return None


def generated(count: int, seed: int) -> list[tuple[bytes, str, Transport]]:
    rng = random.Random(seed)
    out: list[tuple[bytes, str, Transport]] = []
    while len(out) < count:
        if out and rng.random() < 0.4:
            out.append(rng.choice(out))
            continue
        source = rng.choice(SOURCES)
        client = rng.randbytes(8) if rng.random() < 0.8 else None
        server = b""
        if client is not None and rng.random() < 0.5:
            made = NOW - rng.choice([0, 30, 4000])
            server = make_server_cookie(SECRETS.current, client, packed(source), made)
        data = with_options(
            rng.choice(NAMES),
            client,
            server,
            nsid=rng.random() < 0.4,
            rdtype=rng.choice(["A", "AAAA", "TXT", "MX"]),
            payload=rng.choice([512, 1232]),
        )
        out.append((data, source, Transport.TCP if rng.random() < 0.2 else Transport.UDP))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_the_cache_sends_the_reference_paths_bytes_with_cookies_and_nsid(seed):
    fast = CachingAnswerer(holder(), random.Random(seed), defences=defences())
    full = PacketAnswerer(holder(), random.Random(seed), defences=defences())
    for data, source, transport in generated(1500, seed):
        expected = full(data, source, transport)
        assert fast(data, source, transport) == expected, (dns.message.from_wire(data), source)
        assert expected is not None
        asked = dns.message.from_wire(data)
        cookie = next((o for o in asked.options if o.otype == dns.edns.OptionType.COOKIE), None)
        got = reply_cookie(expected)  # dnspython reads the OPT: its RDLENGTH is right
        if cookie is None:
            assert got is None
            continue
        assert got is not None
        client, server = got
        assert client == cookie.client  # type: ignore[attr-defined]
        assert server_cookie_valid(SECRETS, client, server, packed(source), NOW)


def test_one_shared_reply_gets_each_client_its_own_cookie_rfc9018_s4_4():
    fast = CachingAnswerer(holder(), random.Random(1), defences=defences())
    data = with_options("www.example.test.", bytes(8))
    cookies = {}
    for source in ["127.0.0.1", "192.0.2.1", "2001:db8::1", "127.0.0.1"]:
        reply = fast(data, source, Transport.UDP)
        assert reply is not None
        got = reply_cookie(reply)
        assert got is not None
        assert got[1] == make_server_cookie(SECRETS.current, bytes(8), packed(source), NOW)
        cookies[source] = got[1]
    assert len(set(cookies.values())) == 3


def test_the_reply_leaves_room_for_the_cookie_within_the_udp_payload_rfc6891_s7():
    fast = CachingAnswerer(holder(), random.Random(1), defences=defences())
    for name in NAMES:
        data = with_options(name, bytes(8), nsid=True, rdtype="TXT", payload=512)
        reply = fast(data, "127.0.0.1", Transport.UDP)
        assert reply is not None and len(reply) <= 512, name
        assert reply_cookie(reply) is not None


def test_nsid_only_when_asked_and_only_when_set_rfc5001_s2_1():
    fast = CachingAnswerer(holder(), random.Random(1), defences=defences())
    asked = fast(with_options("www.example.test.", None, nsid=True), "127.0.0.1", Transport.UDP)
    plain = fast(with_options("www.example.test.", None), "127.0.0.1", Transport.UDP)
    unset = Defences(options=ReplyOptions())
    quiet = CachingAnswerer(holder(), random.Random(1), defences=unset)
    nothing = quiet(with_options("www.example.test.", None, nsid=True), "127.0.0.1", Transport.UDP)
    assert asked is not None and reply_nsid(asked) == NSID
    assert plain is not None and reply_nsid(plain) is None
    assert nothing is not None and reply_nsid(nothing) is None


def test_cookies_off_sends_none():
    off = Defences(options=ReplyOptions(cookies=False))
    fast = CachingAnswerer(holder(), random.Random(1), defences=off)
    reply = fast(with_options("www.example.test.", bytes(8)), "127.0.0.1", Transport.UDP)
    assert reply is not None and reply_cookie(reply) is None


@pytest.mark.parametrize("answerer", [CachingAnswerer, PacketAnswerer], ids=["cache", "reference"])
def test_require_server_cookie_answers_badcookie_over_udp_only_rfc7873_s5_2_3(answerer):
    fast = answerer(holder(), random.Random(1), defences=defences(require_server_cookie=True))
    client = bytes(8)
    data = with_options("www.example.test.", client)
    refused = fast(data, "127.0.0.1", Transport.UDP)
    over_tcp = fast(data, "127.0.0.1", Transport.TCP)
    assert refused is not None and over_tcp is not None
    message = dns.message.from_wire(refused)
    assert message.rcode() == dns.rcode.BADCOOKIE and not message.answer
    got = reply_cookie(refused)
    assert got is not None  # the fresh cookie to come back with
    again = fast(with_options("www.example.test.", client, got[1]), "127.0.0.1", Transport.UDP)
    assert again is not None and dns.message.from_wire(again).rcode() == dns.rcode.NOERROR
    assert dns.message.from_wire(over_tcp).rcode() == dns.rcode.NOERROR
    old = make_server_cookie(SECRETS.current, client, packed("127.0.0.1"), NOW - 3700)
    stale = fast(with_options("www.example.test.", client, old), "127.0.0.1", Transport.UDP)
    assert stale is not None and dns.message.from_wire(stale).rcode() == dns.rcode.BADCOOKIE


@pytest.mark.parametrize("answerer", [CachingAnswerer, PacketAnswerer], ids=["cache", "reference"])
def test_a_valid_server_cookie_is_never_rate_limited_rfc7873_s5_3(answerer):
    config = RrlConfig(responses_per_second=1, window_s=1, slip=0)
    guarded = defences()
    guarded.limiter = RateLimiter(config)
    fast = answerer(holder(), random.Random(1), defences=guarded)
    client = bytes(8)
    server = make_server_cookie(SECRETS.current, client, packed("127.0.0.1"), NOW)
    proven = with_options("mail.example.test.", client, server)
    unproven = with_options("mail.example.test.", client)
    assert all(fast(proven, "127.0.0.1", Transport.UDP) is not None for _ in range(20))
    sent = [fast(unproven, "127.0.0.1", Transport.UDP) for _ in range(20)]
    assert sum(reply is None for reply in sent) >= 15


def test_the_c_table_never_keeps_a_reply_that_gets_a_cookie_or_nsid():
    cache = CachingAnswerer(holder(), random.Random(1), defences=defences())
    native = NativeUdp(cache, seed=bytes(16))
    queries = [
        with_options("www.example.test.", bytes(8)),
        with_options("www.example.test.", None, nsid=True),
        with_options("www.example.test.", bytes(8), nsid=True, rdtype="TXT"),
    ]
    for data in queries:
        for source in ["127.0.0.1", "192.0.2.7", "127.0.0.1"]:
            reply = native.answer(data, source)
            assert reply is not None
            got = reply_cookie(reply)
            if got is not None:
                assert got[1] == make_server_cookie(SECRETS.current, bytes(8), packed(source), NOW)
    counters = native.counters()
    assert counters["hits"] == 0 and counters["entries"] == 0
    plain = with_options("www.example.test.", None)
    native.answer(plain, "127.0.0.1")
    native.answer(plain, "127.0.0.1")
    assert native.counters()["hits"] == 1  # the table itself works


def test_packed_addresses_are_4_or_16_bytes_and_ipv4_mapped_counts_as_ipv4():
    assert packed("192.0.2.1") == socket.inet_aton("192.0.2.1")
    assert packed("::ffff:192.0.2.1") == socket.inet_aton("192.0.2.1")
    assert packed("2001:db8::1") == socket.inet_pton(socket.AF_INET6, "2001:db8::1")


assert _native is not None  # the C extension is built for the tests (./run builds it)
