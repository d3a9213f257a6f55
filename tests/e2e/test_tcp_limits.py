"""DNS over TCP under a client that holds connections (issue 12 §4): a trickle cannot
extend the idle deadline (RFC 7766 §6.2.3), one address cannot take every connection,
and when the process is full the connection waiting longest makes room for a new client
rather than the new client being turned away. Clients are loopback addresses 127.0.0.2,
.3, ... so that each is its own client."""

from __future__ import annotations

import re
import socket
import struct
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import serve_test_zones
from harness import GeodnsProcess
from polling import within

pytestmark = pytest.mark.e2e


def connect(server: GeodnsProcess, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(3)
    sock.connect((server.host, server.port))
    return sock


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def answered(server: GeodnsProcess, source: str) -> bool:
    query = dns.message.make_query("www.example.test.", "A")
    try:
        reply = dns.query.tcp(query, server.host, port=server.port, timeout=3, source=source)
    except (OSError, EOFError, dns.exception.Timeout):
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


def wait_for_connections(server: GeodnsProcess, count: int) -> None:
    """The server accepts asynchronously: wait until /metrics counts them all."""
    counted = re.compile(rf"^geodns_tcp_connections {count}\.0$", re.M)
    try:
        within(5.0, lambda: counted.search(metrics(server)) is not None, f"{count} connections")
    except AssertionError as exc:
        raise AssertionError(metrics(server)) from exc  # what it counted instead


def metrics(server: GeodnsProcess) -> str:
    with urllib.request.urlopen(server.api + "/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_a_trickle_of_bytes_does_not_keep_a_connection_open_rfc7766_6_2_3(tmp_path: Path):
    server = serve_test_zones(tmp_path, "--tcp-idle-timeout-s", "1")  # the fixture has 2
    try:
        wire = dns.message.make_query("www.example.test.", "A").to_wire()
        framed = struct.pack("!H", len(wire)) + wire
        sock = connect(server, "127.0.0.2")
        started = time.monotonic()
        closed = False
        for byte in framed[:-1]:  # one byte every 0.25 s, never the whole message
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_server(sock, 0.25):
                closed = True
                break
        held = time.monotonic() - started
        sock.close()
        assert closed and held < 2.5, f"held {held:.1f} s by a trickle"
    finally:
        server.stop()


def test_a_connection_that_keeps_asking_stays_open_past_the_timeout(tmp_path: Path):
    server = serve_test_zones(tmp_path, "--tcp-idle-timeout-s", "1")
    try:
        with connect(server, "127.0.0.2") as sock:
            query = dns.message.make_query("www.example.test.", "A")
            for _ in range(8):  # 2 s in all, each query answered within the timeout
                reply = dns.query.tcp(query, server.host, port=server.port, timeout=2, sock=sock)
                assert reply.answer
                time.sleep(0.25)
    finally:
        server.stop()


def test_one_address_cannot_take_every_connection_and_a_fresh_client_is_served(tmp_path: Path):
    server = serve_test_zones(tmp_path, "--tcp-max-connections-per-client", "4")
    held: list[socket.socket] = []
    try:
        held = [connect(server, "127.0.0.2") for _ in range(4)]
        wait_for_connections(server, 4)
        extra = [connect(server, "127.0.0.2") for _ in range(10)]
        assert all(closed_by_server(sock, 2) for sock in extra)  # closed at once
        for sock in extra:
            sock.close()
        assert answered(server, "127.0.0.3")  # another client
        assert not any(closed_by_server(sock, 0.01) for sock in held)  # the four still open
        text = metrics(server)
        assert re.search(r'geodns_tcp_refused_total\{reason="per_client"\} 10\.0', text), text
        lines = re.findall(r"tcp connection refused reason=per_client", server.log())
        assert 1 <= len(lines) <= 3  # ten refusals in well under a second: logged once or so
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_when_full_the_connection_waiting_longest_is_closed_for_a_new_client(tmp_path: Path):
    server = serve_test_zones(tmp_path, "--tcp-max-connections", "3")
    held: list[socket.socket] = []
    try:
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            held.append(connect(server, source))
            wait_for_connections(server, len(held))
        assert answered(server, "127.0.0.5")  # room was made: not turned away
        assert closed_by_server(held[0], 2)  # the oldest waiting went
        assert not closed_by_server(held[1], 0.01) and not closed_by_server(held[2], 0.01)
        assert re.search(r"^geodns_tcp_evicted_total 1\.0$", metrics(server), re.M)
    finally:
        for sock in held:
            sock.close()
        server.stop()
