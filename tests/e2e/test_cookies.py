"""DNS cookies (RFC 7873, server cookies as RFC 9018) and NSID (RFC 5001) on the running
server, over real UDP and TCP, on both data planes; dig +cookie and kdig +nsid as an
operator would use them; two nodes on one database accepting each other's cookies; a
rotation keeping the previous secret valid.

The expected server cookies are made here from the secret in the server's database with
RFC 9018 §4.4's recipe (the secret is what nodes share; the recipe is the RFC's).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import serve_test_zones
from harness import SERVE_ZONES, GeodnsProcess, geodns_command, loopback_args, start_geodns
from siphash24 import siphash24

from geodns.dns.cookie import CookieSecrets
from geodns.store.repository import Store

pytestmark = pytest.mark.e2e
NSID = "geodns-test-node"
CLIENT = bytes.fromhex("0102030405060708")


def database_of(server_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{server_dir / 'geodns.db'}"


def stored_secrets(database: str) -> CookieSecrets:
    async def read() -> CookieSecrets | None:
        store = await Store.open(database)
        try:
            return await store.load_cookie_secrets()
        finally:
            await store.close()

    secrets = asyncio.run(read())
    assert secrets is not None, "the first start makes the cookie secret"
    return secrets


def rfc9018_cookie(secret: bytes, client: bytes, address: str, timestamp: int) -> bytes:
    """RFC 9018 §4.4: VERSION 1 | RESERVED 0 | TIMESTAMP | SipHash-2-4(client cookie |
    VERSION | RESERVED | TIMESTAMP | client IP)."""
    head = bytes([1, 0, 0, 0]) + (timestamp & 0xFFFFFFFF).to_bytes(4, "big")
    return head + siphash24(client + head + socket.inet_aton(address), key=secret).digest()


def ask(
    server: GeodnsProcess,
    client: bytes | None = CLIENT,
    server_cookie: bytes = b"",
    *,
    tcp: bool = False,
    nsid: bool = False,
    name: str = "www.example.test.",
    source: str = "127.0.0.1",
) -> dns.message.Message:
    options: list[dns.edns.Option] = []
    if client is not None:
        options.append(dns.edns.CookieOption(client, server_cookie))
    if nsid:
        options.append(dns.edns.NSIDOption(b""))
    query = dns.message.make_query(name, "A", use_edns=0, options=options)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server.host, port=server.port, timeout=3, source=source)


def cookie_of(reply: dns.message.Message) -> tuple[bytes, bytes] | None:
    for option in reply.options:
        if isinstance(option, dns.edns.CookieOption):
            return option.client, option.server
    return None


def nsid_of(reply: dns.message.Message) -> bytes | None:
    for option in reply.options:
        if isinstance(option, dns.edns.NSIDOption):
            return option.nsid
    return None


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, data_plane: str) -> Iterator[GeodnsProcess]:
    """Cookies on (the default), an NSID set."""
    workdir = tmp_path_factory.mktemp("cookies")
    server = serve_test_zones(workdir, "--nsid", NSID, data_plane=data_plane)
    server.database = database_of(workdir)  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, data_plane: str) -> Iterator[GeodnsProcess]:
    """require_server_cookie, set through its GEODNS_* variable."""
    workdir = tmp_path_factory.mktemp("strict")
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = database_of(workdir)
    server = start_geodns(
        [*loopback_args(zones, database, api="off"), "--no-geoip", "--data-plane", data_plane],
        env={"GEODNS_REQUIRE_SERVER_COOKIE": "true"},
    )
    server.database = database  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_client_cookie_gets_a_fresh_server_cookie_rfc7873_s5_2_3_rfc9018_s4(plain, tcp):
    before = int(time.time())
    reply = ask(plain, tcp=tcp)
    after = int(time.time())
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer
    got = cookie_of(reply)
    assert got is not None
    client, server = got
    assert client == CLIENT and len(server) == 16
    assert server[:4] == b"\x01\x00\x00\x00"  # RFC 9018 §4.2: version 1, reserved
    timestamp = int.from_bytes(server[4:8], "big")
    assert before <= timestamp <= after
    secret = stored_secrets(plain.database).current
    assert server == rfc9018_cookie(secret, CLIENT, "127.0.0.1", timestamp)


def test_each_client_gets_its_own_cookie_for_the_same_query_bytes(plain):
    """The reply is shared (and on the native plane, the C table must not answer it):
    the cookie is made for each client address as it is sent."""
    secret = stored_secrets(plain.database).current
    for source in ["127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.3"]:
        got = cookie_of(ask(plain, source=source))
        assert got is not None
        timestamp = int.from_bytes(got[1][4:8], "big")
        assert got[1] == rfc9018_cookie(secret, CLIENT, source, timestamp), source


def test_no_cookie_in_the_query_no_cookie_in_the_reply(plain):
    reply = ask(plain, None)
    assert reply.rcode() == dns.rcode.NOERROR and cookie_of(reply) is None


@pytest.mark.parametrize("length", [0, 7, 9, 15, 41])
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_malformed_cookie_length_is_formerr_with_an_opt_rfc7873_s5_2_2(plain, length, tcp):
    option = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, bytes(length))
    query = dns.message.make_query("www.example.test.", "A", use_edns=0, options=[option])
    send = dns.query.tcp if tcp else dns.query.udp
    reply = send(query, plain.host, port=plain.port, timeout=3)
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.edns == 0  # RFC 6891 §7: the FORMERR carries an OPT


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_nsid_is_sent_only_when_asked_rfc5001_s2_1(plain, tcp):
    assert nsid_of(ask(plain, None, nsid=True, tcp=tcp)) == NSID.encode()
    assert nsid_of(ask(plain, None, tcp=tcp)) is None
    both = ask(plain, nsid=True, tcp=tcp)
    assert nsid_of(both) == NSID.encode() and cookie_of(both) is not None


def kdig(server: GeodnsProcess, *args: str) -> str:
    binary = shutil.which("kdig")
    assert binary, "kdig is needed: apt-get install knot-dnsutils (./run test installs it)"
    command = [binary, f"@{server.host}", "-p", str(server.port), "+time=2", "+retry=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout


def dig(server: GeodnsProcess, *args: str) -> str:
    binary = shutil.which("dig")
    assert binary, "dig is needed: apt-get install bind9-dnsutils (./run test installs it)"
    command = [binary, f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout


def test_kdig_nsid_shows_the_servers_identifier(plain):
    out = kdig(plain, "+nsid", "www.example.test", "A")
    assert re.search(rf'NSID: {NSID.encode().hex()} "{NSID}"', out, re.IGNORECASE), out


def test_dig_cookie_twice_the_server_cookie_sent_back_is_good(strict):
    """dig +cookie learns a server cookie (BADCOOKIE: this server requires one over UDP),
    then sends it back: NOERROR, and dig says the cookie is good."""
    first = dig(strict, "+cookie", "+nobadcookie", "www.example.test", "A")
    learned = re.search(r"; COOKIE: ([0-9a-f]{48})", first)
    assert learned, first
    assert "status: BADCOOKIE" in first, first
    second = dig(strict, f"+cookie={learned.group(1)}", "www.example.test", "A")
    assert "status: NOERROR" in second, second
    assert re.search(r"; COOKIE: [0-9a-f]{48} \(good\)", second), second


def test_dig_cookie_with_a_plain_server_is_good_both_times(plain):
    first = dig(plain, "+cookie", "www.example.test", "A")
    learned = re.search(r"; COOKIE: ([0-9a-f]{48}) \(good\)", first)
    assert learned, first
    second = dig(plain, f"+cookie={learned.group(1)}", "www.example.test", "A")
    assert "status: NOERROR" in second and re.search(r"COOKIE: [0-9a-f]{48} \(good\)", second)


def test_require_server_cookie_answers_badcookie_over_udp_with_a_fresh_cookie(strict):
    refused = ask(strict)
    assert refused.rcode() == dns.rcode.BADCOOKIE and not refused.answer  # RFC 7873 §5.2.3
    got = cookie_of(refused)
    assert got is not None and got[0] == CLIENT
    again = ask(strict, CLIENT, got[1])
    assert again.rcode() == dns.rcode.NOERROR and again.answer


def test_require_server_cookie_never_refuses_tcp_rfc7873_s5_2_3(strict):
    reply = ask(strict, tcp=True)
    assert reply.rcode() == dns.rcode.NOERROR and cookie_of(reply) is not None


def test_a_query_without_any_cookie_is_answered_even_when_required(strict):
    """As BIND's require-server-cookie: only a cookie-aware client (one that sent a client
    cookie) is told BADCOOKIE; RFC 7873 §5.2.1 leaves a query without COOKIE to policy."""
    assert ask(strict, None).rcode() == dns.rcode.NOERROR


def test_a_query_without_edns_is_answered_over_udp_when_required_rfc7873_s5_2_1(strict):
    """RFC 7873 §5.2.1: "If there is no OPT record or no COOKIE option present in the
    request, then the server responds to the request as if the server doesn't implement
    the COOKIE option." BADCOOKIE needs an OPT to say it in; TC would send every plain
    resolver to TCP. Knot and BIND (require-server-cookie) answer such a query as usual."""
    reply = strict.query("www.example.test.", "A")  # no OPT at all
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer
    assert not reply.flags & dns.flags.TC and reply.edns == -1


def ask_for_a_cookie(
    server: GeodnsProcess, server_cookie: bytes = b"", *, tcp: bool = False
) -> dns.message.Message:
    """RFC 7873 §5.4: a QUERY with an empty question section and a COOKIE option."""
    query = dns.message.Message()
    query.use_edns(0, options=[dns.edns.CookieOption(CLIENT, server_cookie)])
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server.host, port=server.port, timeout=3)


def cookie_for_the_asking(server: GeodnsProcess, tcp: bool) -> None:
    """§5.4: "Such servers will send a reply that has an empty Answer Section and has a
    COOKIE option containing the Client Cookie and a valid Server Cookie. If such a query
    provided just a Client Cookie and no Server Cookie, the response SHALL have the RCODE
    NOERROR." A cached cookie sent back is confirmed with NOERROR, or answered BADCOOKIE
    (with a fresh one) when invalid; require_server_cookie changes none of it. Before:
    FORMERR, as from a server that knows no cookies."""
    secret = stored_secrets(server.database).current
    reply = ask_for_a_cookie(server, tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert not (reply.question or reply.answer or reply.authority or reply.additional)
    got = cookie_of(reply)
    assert got is not None and got[0] == CLIENT
    assert got[1] == rfc9018_cookie(secret, CLIENT, "127.0.0.1", int.from_bytes(got[1][4:8], "big"))
    assert ask_for_a_cookie(server, got[1], tcp=tcp).rcode() == dns.rcode.NOERROR
    stranger = rfc9018_cookie(os.urandom(16), CLIENT, "127.0.0.1", int(time.time()))
    refused = ask_for_a_cookie(server, stranger, tcp=tcp)
    assert refused.rcode() == dns.rcode.BADCOOKIE
    fresh = cookie_of(refused)
    assert fresh is not None and ask(server, CLIENT, fresh[1], tcp=tcp).rcode() == 0


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_query_for_a_server_cookie_gets_one_rfc7873_s5_4(plain, tcp):
    cookie_for_the_asking(plain, tcp)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_query_for_a_server_cookie_gets_one_when_required_too_rfc7873_s5_4(strict, tcp):
    cookie_for_the_asking(strict, tcp)


def test_no_question_and_no_cookie_is_still_formerr_rfc1035_4_1_2(plain):
    query = dns.message.Message()
    query.use_edns(0)
    reply = dns.query.udp(query, plain.host, port=plain.port, timeout=3)
    assert reply.rcode() == dns.rcode.FORMERR


@pytest.mark.parametrize(
    ("age_s", "accepted"),
    [(3500, True), (3700, False), (-200, True), (-400, False)],
    ids=["59-minutes-old", "62-minutes-old", "200s-ahead", "400s-ahead"],
)
def test_old_and_future_timestamps_are_refused_rfc9018_s4_3(strict, age_s, accepted):
    secret = stored_secrets(strict.database).current
    cookie = rfc9018_cookie(secret, CLIENT, "127.0.0.1", int(time.time()) - age_s)
    rcode = ask(strict, CLIENT, cookie).rcode()
    assert rcode == (dns.rcode.NOERROR if accepted else dns.rcode.BADCOOKIE)


def test_a_rotation_keeps_the_previous_secret_valid(strict):
    """`geodns cookies rotate`: new cookies come from the new secret within a second or
    so; cookies made with the previous one are still accepted."""
    before = stored_secrets(strict.database).current
    old_cookie = rfc9018_cookie(before, CLIENT, "127.0.0.1", int(time.time()))
    result = geodns_command("cookies", "rotate", "--database", strict.database)
    assert result.returncode == 0, result.stderr
    assert "accepted until" in result.stdout
    after = stored_secrets(strict.database)
    assert after.current != before and after.previous == before
    assert after.previous_until_s - time.time() > 3500  # an hour from now
    deadline = time.monotonic() + 5
    while True:
        got = cookie_of(ask(strict, CLIENT, old_cookie))
        assert got is not None
        timestamp = int.from_bytes(got[1][4:8], "big")
        if got[1] == rfc9018_cookie(after.current, CLIENT, "127.0.0.1", timestamp):
            break
        assert time.monotonic() < deadline, "the server still makes cookies with the old secret"
        time.sleep(0.05)
    assert ask(strict, CLIENT, old_cookie).rcode() == dns.rcode.NOERROR
    stranger = rfc9018_cookie(os.urandom(16), CLIENT, "127.0.0.1", int(time.time()))
    assert ask(strict, CLIENT, stranger).rcode() == dns.rcode.BADCOOKIE


def test_a_valid_server_cookie_is_never_rate_limited(tmp_path, data_plane):
    """RRL at 1 answer a second, no slip: a burst without a server cookie is mostly
    dropped; the same burst with a valid one is answered in full (issue 12 §1)."""
    server = serve_test_zones(
        tmp_path,
        *["--rrl-responses-per-second", "1", "--rrl-slip", "0", "--rrl-window-s", "1"],
        data_plane=data_plane,
    )
    try:
        learned = cookie_of(ask(server, name="mail.example.test."))
        assert learned is not None

        def burst(server_cookie: bytes) -> int:
            answered = 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                sock.settimeout(1.0)
                options = [dns.edns.CookieOption(CLIENT, server_cookie)]
                for n in range(20):
                    query = dns.message.make_query("mail.example.test.", "A", options=options)
                    query.id = n
                    sock.sendto(query.to_wire(), (server.host, server.port))
                try:
                    while answered < 20:
                        sock.recv(4096)
                        answered += 1
                except TimeoutError:
                    pass
            return answered

        assert burst(learned[1]) == 20
        assert burst(b"") <= 5
    finally:
        server.stop()


def cookie_burst(
    server: GeodnsProcess, name: str, count: int, client: bytes | None
) -> tuple[Counter[str], list[bytes]]:
    """count identical UDP queries at once from 127.0.0.1 (with client, when given, as
    their client cookie and no server cookie), what came back within a second ('answer',
    'badcookie', 'tc', 'drop'), and the server cookies the BADCOOKIE replies carried."""
    seen: Counter[str] = Counter()
    cookies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        options = [dns.edns.CookieOption(client, b"")] if client is not None else []
        for n in range(count):
            query = dns.message.make_query(name, "A", use_edns=0, options=options)
            query.id = n
            sock.sendto(query.to_wire(), (server.host, server.port))
        deadline = time.monotonic() + 1.0
        while sum(seen.values()) < count and time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                reply = dns.message.from_wire(sock.recv(4096))
            except TimeoutError:
                break
            if reply.flags & dns.flags.TC:
                seen["tc"] += 1
            elif reply.rcode() == dns.rcode.BADCOOKIE:
                assert not reply.answer
                got = cookie_of(reply)
                assert got is not None and got[0] == client
                cookies.append(got[1])
                seen["badcookie"] += 1
            else:
                assert reply.rcode() == dns.rcode.NOERROR and reply.answer
                seen["answer"] += 1
    seen["drop"] = count - sum(seen.values())
    return seen, cookies


def test_rrl_slips_badcookie_with_a_fresh_cookie_to_a_cookie_client_not_tc(tmp_path, data_plane):
    """RFC 7873 §5.2.3 lets a server answer a client cookie alone with BADCOOKIE; BIND's
    RRL slips that instead of TC=1 to a query with a client cookie: as small, and the
    client retries over UDP with the fresh cookie, which is never limited, rather than
    over TCP. At 1 answer a second with every limited response slipped (rrl_slip 1): a
    burst of 10 is 1 answer and 9 BADCOOKIE with a valid cookie; the same burst without
    a cookie is still slipped as TC."""
    server = serve_test_zones(
        tmp_path,
        *["--rrl-responses-per-second", "1", "--rrl-slip", "1", "--rrl-window-s", "1"],
        data_plane=data_plane,
    )
    try:
        seen, cookies = cookie_burst(server, "www.example.test.", 10, CLIENT)
        assert abs(seen["answer"] - 1) <= 1 and seen["badcookie"] >= 8, seen
        assert seen["tc"] == 0 and seen["drop"] == 0, seen
        secret = stored_secrets(database_of(tmp_path)).current
        for cookie in cookies:
            timestamp = int.from_bytes(cookie[4:8], "big")
            assert cookie == rfc9018_cookie(secret, CLIENT, "127.0.0.1", timestamp)
        retried = ask(server, CLIENT, cookies[-1], name="www.example.test.")
        assert retried.rcode() == dns.rcode.NOERROR and retried.answer  # proven: not limited
        plain, _ = cookie_burst(server, "mail.example.test.", 10, None)
        assert abs(plain["answer"] - 1) <= 1 and plain["tc"] >= 8, plain
        assert plain["badcookie"] == 0, plain
        with urllib.request.urlopen(server.api + "/metrics", timeout=5) as response:
            metrics = response.read().decode()
        slipped = re.search(
            r'^geodns_rrl_slipped_total\{category="response"\} (\S+)$', metrics, re.M
        )
        assert slipped and float(slipped.group(1)) >= 16, metrics  # both kinds are slips
    finally:
        server.stop()


@pytest.mark.slow
def test_two_nodes_on_one_database_accept_each_others_cookies(tmp_path, database_url):
    """The secret is the store's: an anycast set agrees (RFC 9018 §4.4)."""
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    common = ["--api", "off", "--zones", str(zones), "--database", database_url, "--no-geoip"]
    env = {"GEODNS_REQUIRE_SERVER_COOKIE": "true"}
    first = start_geodns(["--dns", "127.0.0.1:0", *common], env=env)
    try:
        second = start_geodns(["--dns", "127.0.0.2:0", *common], env=env)
        try:
            made_by_first = cookie_of(ask(first))
            made_by_second = cookie_of(ask(second))
            assert made_by_first is not None and made_by_second is not None
            assert ask(second, CLIENT, made_by_first[1]).rcode() == dns.rcode.NOERROR
            assert ask(first, CLIENT, made_by_second[1]).rcode() == dns.rcode.NOERROR
        finally:
            second.stop()
    finally:
        first.stop()
