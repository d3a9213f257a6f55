"""TCP per RFC 7766, malformed input (RFC 8906), and the process lifecycle."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import struct
import time

import dns.message
import dns.query
import dns.rcode
import pytest
from harness import SERVE_ZONES, loopback_args, start_geodns

pytestmark = pytest.mark.e2e


def frame(message: dns.message.Message) -> bytes:
    wire = message.to_wire()
    return struct.pack("!H", len(wire)) + wire


def read_frame(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    (length,) = struct.unpack("!H", exactly(2))
    return exactly(length)


def test_pipelined_queries_on_one_connection_are_all_answered_rfc7766_6_2_1(geodns_server):
    queries = [
        dns.message.make_query(name, "A")
        for name in (
            "www.example.test.",
            "mail.example.test.",
            "absent.example.test.",
            "alias.example.test.",
        )
    ]
    with socket.create_connection((geodns_server.host, geodns_server.port), timeout=2) as sock:
        sock.sendall(b"".join(frame(q) for q in queries))  # all at once, before any reply
        replies = [dns.message.from_wire(read_frame(sock)) for _ in queries]
    assert sorted(r.id for r in replies) == sorted(q.id for q in queries)
    by_id = {r.id: r for r in replies}
    assert by_id[queries[2].id].rcode() == dns.rcode.NXDOMAIN


def test_a_query_split_across_segments_is_reassembled_rfc7766_8(geodns_server):
    data = frame(dns.message.make_query("www.example.test.", "A"))
    with socket.create_connection((geodns_server.host, geodns_server.port), timeout=2) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(0.001)
        reply = dns.message.from_wire(read_frame(sock))
    assert reply.rcode() == dns.rcode.NOERROR


def test_idle_tcp_connection_is_closed_by_the_server_rfc7766_6_2_3(geodns_server):
    # the fixture runs with --tcp-idle-timeout-s 2
    with socket.create_connection((geodns_server.host, geodns_server.port), timeout=6) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # orderly close from the server
        assert time.monotonic() - started < 5


def test_garbage_then_valid_query_is_still_answered_rfc8906_3_1_1(geodns_server):
    rng = random.Random(1234)
    valid = dns.message.make_query("www.example.test.", "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(3000):
            if i % 3 == 0:
                packet = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            else:
                mutated = bytearray(valid)
                for _ in range(rng.randrange(1, 6)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                packet = bytes(mutated[: rng.randrange(1, len(mutated) + 8)])
            sock.sendto(packet, (geodns_server.host, geodns_server.port))
    # broken TCP frames too: a length that promises more than is sent, then a hang-up
    with socket.create_connection((geodns_server.host, geodns_server.port), timeout=2) as sock:
        sock.sendall(b"\x01\x00" + b"\x00" * 20)
    for tcp in (False, True):
        reply = geodns_server.query("www.example.test.", "A", tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR
    assert "Traceback" not in geodns_server.log()


@pytest.mark.parametrize(
    ("name", "packet"),
    [
        ("pointer-loop", b"\xc0\x0c\x00\x01\x00\x01"),
        ("label-over-63", b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01"),
        ("name-over-255", (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01"),
        ("question-overruns", b"\x03www\x07exam"),
        ("trailing-garbage", b"\x03www\x07example\x04test\x00\x00\x01\x00\x01garbage"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_queries_get_formerr_rfc1035_4_1_1(geodns_server, name, packet):
    header = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(header + packet, (geodns_server.host, geodns_server.port))
        reply = sock.recv(65535)
    assert struct.unpack("!H", reply[:2])[0] == 0x4242
    assert reply[3] & 0x0F == dns.rcode.FORMERR


def test_counts_that_overrun_the_packet_get_formerr(geodns_server):
    question = dns.message.make_query("www.example.test.", "A").to_wire()[12:]
    packet = struct.pack("!HHHHHH", 7, 0x0100, 1, 3, 0, 0) + question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(packet, (geodns_server.host, geodns_server.port))
        reply = dns.message.from_wire(sock.recv(65535))
    assert reply.rcode() == dns.rcode.FORMERR
    assert reply.question[0].name.to_text() == "www.example.test."


@pytest.mark.parametrize(
    "packet", [b"", b"\x00", b"\x12\x34\x01\x00\x00\x01"], ids=["empty", "1-byte", "6-bytes"]
)
def test_packets_shorter_than_a_header_are_dropped(geodns_server, packet):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(packet, (geodns_server.host, geodns_server.port))
        with pytest.raises(TimeoutError):
            sock.recv(65535)
    assert geodns_server.query("www.example.test.", "A").rcode() == dns.rcode.NOERROR


def test_responses_sent_to_the_server_are_dropped_never_answered_rfc8906(geodns_server):
    reply_packet = bytearray(dns.message.make_query("www.example.test.", "A").to_wire())
    reply_packet[2] |= 0x80  # QR
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(bytes(reply_packet), (geodns_server.host, geodns_server.port))
        with pytest.raises(TimeoutError):
            sock.recv(65535)


def test_sighup_reloads_zones_and_a_bad_file_keeps_the_old_data(fresh_geodns_server, tmp_path):
    geodns_server = fresh_geodns_server
    zone = tmp_path / "zones" / "example.test.zone"
    text = zone.read_text()
    zone.write_text(text.replace("2026112201", "2026112202").replace("192.0.2.10", "192.0.2.111"))
    geodns_server.process.send_signal(signal.SIGHUP)
    geodns_server.wait_for_log(r"zone loaded zone=example.test. serial=2026112202")
    reply = geodns_server.query("www.example.test.", "A")
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.111"}
    zone.write_text(text.replace("www      A     192.0.2.10", "www      A     not-an-address"))
    geodns_server.process.send_signal(signal.SIGHUP)
    geodns_server.wait_for_log(r"zone refused file=\S*example.test.zone kept_previous=True")
    reply = geodns_server.query("www.example.test.", "A")
    assert {r.to_text() for r in reply.answer[0]} == {"192.0.2.111"}


def test_sigterm_stops_cleanly_and_closes_the_sockets(fresh_geodns_server):
    geodns_server = fresh_geodns_server
    assert geodns_server.stop(signal.SIGTERM) == 0
    assert "stopping" in geodns_server.log()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        assert sock.connect_ex((geodns_server.host, geodns_server.port)) != 0


def test_query_log_writes_one_line_per_query_when_asked(tmp_path):
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    server = start_geodns(
        [
            *loopback_args(zones, f"sqlite+aiosqlite:///{tmp_path / 'db'}", api="off"),
            "--no-geoip",
            "--query-log",
        ]
    )
    try:
        server.query("WwW.example.test.", "A")
        server.query("nope.example.test.", "AAAA", tcp=True)
        server.wait_for_log(
            r"query client=127\.0\.0\.1 transport=udp www\.example\.test\. type=1 "
            r"rcode=NOERROR answers=1"
        )
        server.wait_for_log(
            r"query client=127\.0\.0\.1 transport=tcp nope\.example\.test\. type=28 "
            r"rcode=NXDOMAIN answers=0"
        )
    finally:
        server.stop()
