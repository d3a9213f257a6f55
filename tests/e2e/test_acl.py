"""dns_allow / dns_deny end to end: sources on loopback addresses 127.0.0.2, .3, ... are
refused (REFUSED + EDE 18, RFC 8914 §4.19) or dropped, the rest answered; SIGHUP reads an
edited --config file again, in every worker process too. Every test runs on both data
planes (the data_plane fixture): the native loop checks the lists and refuses in C."""

from __future__ import annotations

import re
import signal
import socket
import urllib.request
from pathlib import Path

import dns.edns
import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import serve_test_zones
from harness import GeodnsProcess
from polling import within

pytestmark = pytest.mark.e2e

EDE_PROHIBITED = 18


def ask(server: GeodnsProcess, source: str, *, tcp: bool = False) -> dns.message.Message | None:
    """The reply to www.example.test A from source; None when nothing came back."""
    query = dns.message.make_query("www.example.test.", "A", use_edns=0)
    send = dns.query.tcp if tcp else dns.query.udp
    try:
        return send(query, server.host, port=server.port, timeout=1, source=source)
    except (dns.exception.Timeout, ConnectionError):
        return None


def extended_errors(reply: dns.message.Message) -> list[int]:
    return [o.code for o in reply.options if isinstance(o, dns.edns.EDEOption)]


def refused(reply: dns.message.Message | None) -> bool:
    return (
        reply is not None
        and reply.rcode() == dns.rcode.REFUSED
        and extended_errors(reply) == [EDE_PROHIBITED]
        and not reply.answer
    )


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_denied_source_is_refused_with_ede_18_and_others_are_answered(
    tmp_path: Path, data_plane: str, tcp
):
    server = serve_test_zones(
        tmp_path, "--dns-deny", "127.0.0.2", "--dns-deny", "127.0.9.0/24", data_plane=data_plane
    )
    try:
        assert refused(ask(server, "127.0.0.2", tcp=tcp))
        assert refused(ask(server, "127.0.9.77", tcp=tcp))
        answered = ask(server, "127.0.0.3", tcp=tcp)
        assert answered is not None and answered.answer
    finally:
        server.stop()


def test_an_allow_list_answers_only_its_networks_and_deny_wins(tmp_path: Path, data_plane: str):
    server = serve_test_zones(
        tmp_path, "--dns-allow", "127.0.0.0/30", "--dns-deny", "127.0.0.2", data_plane=data_plane
    )
    try:
        ok = ask(server, "127.0.0.1")
        assert ok is not None and ok.answer  # inside the allow list
        assert refused(ask(server, "127.0.0.2"))  # denied although allowed
        assert refused(ask(server, "127.0.0.5"))  # outside the allow list
        with urllib.request.urlopen(server.api + "/metrics", timeout=5) as response:
            text = response.read().decode()
        assert re.search(r'geodns_queries_denied_total\{action="refuse"\} [2-9]', text), text
    finally:
        server.stop()


def write_config(path: Path, deny: list[str], action: str = "refuse") -> None:
    listed = ", ".join(f'"{d}"' for d in deny)
    path.write_text(f'dns_deny = [{listed}]\ndns_deny_action = "{action}"\n')


def test_sighup_reads_the_lists_again_from_the_config_file(tmp_path: Path, data_plane: str):
    config = tmp_path / "geodns.toml"
    write_config(config, ["127.0.0.2"])
    server = serve_test_zones(tmp_path, "--config", str(config), data_plane=data_plane)
    try:
        assert refused(ask(server, "127.0.0.2"))
        write_config(config, ["127.0.0.3"], action="drop")
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log(r"access lists loaded allow=0 deny=1 action=drop")
        assert ask(server, "127.0.0.3") is None  # dropped now
        after = ask(server, "127.0.0.2")
        assert after is not None and after.answer  # no longer denied
        config.write_text('dns_deny = ["not a network"]\n')
        server.process.send_signal(signal.SIGHUP)
        server.wait_for_log(r"access lists not reloaded, the previous ones stay in force")
        assert ask(server, "127.0.0.3") is None  # still dropped
    finally:
        server.stop()


@pytest.mark.slow
def test_every_worker_process_reads_the_lists_again_on_sighup(tmp_path: Path, data_plane: str):
    config = tmp_path / "geodns.toml"
    write_config(config, [])
    server = serve_test_zones(
        tmp_path, "--config", str(config), "--workers", "2", data_plane=data_plane
    )
    try:
        server.wait_for_log(r"worker started index=0")

        def answered_by_all(expect_refused: bool) -> bool:
            # new source ports: SO_REUSEPORT spreads them over both processes
            replies = [ask(server, "127.0.0.2") for _ in range(24)]
            return all(refused(r) is expect_refused for r in replies)

        within(10.0, lambda: answered_by_all(False), "both workers answer 127.0.0.2")
        write_config(config, ["127.0.0.2"])
        server.process.send_signal(signal.SIGHUP)
        within(10.0, lambda: answered_by_all(True), "both workers refuse 127.0.0.2")
    finally:
        server.stop()


def test_a_denied_source_with_a_malformed_packet_gets_nothing(tmp_path: Path, data_plane: str):
    server = serve_test_zones(tmp_path, "--dns-deny", "127.0.0.2", data_plane=data_plane)
    malformed = b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6  # QDCOUNT 2, no question
    try:
        for source, expected in (("127.0.0.3", dns.rcode.FORMERR), ("127.0.0.2", None)):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((source, 0))
                sock.settimeout(0.5)
                sock.sendto(malformed, (server.host, server.port))
                try:
                    got = dns.message.from_wire(sock.recv(512), question_only=True).rcode()
                except TimeoutError:
                    got = None
            assert got == expected, source
    finally:
        server.stop()
