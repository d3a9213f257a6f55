"""What an operator sees with dig and kdig against the running server."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.e2e


def dig(server, *args: str) -> str:
    binary = shutil.which("dig")
    assert binary, "dig is needed: apt-get install bind9-dnsutils (./run test installs it)"
    result = subprocess.run(
        [binary, f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_gets_an_authoritative_answer(geodns_server, transport):
    out = dig(geodns_server, "www.example.test", "A", transport)
    assert "status: NOERROR" in out
    assert (
        "flags: qr aa rd;" in out
    )  # AA set, RA clear (dig warns "recursion requested but not available")
    assert "www.example.test.\t3600\tIN\tA\t192.0.2.10" in out


def test_dig_nxdomain_shows_the_soa_with_the_negative_ttl_rfc2308_3(geodns_server):
    out = dig(geodns_server, "nope.example.test", "A")
    assert "status: NXDOMAIN" in out
    assert "example.test.\t\t300\tIN\tSOA\tns1.example.test. hostmaster.example.test." in out


def test_dig_big_answer_falls_back_to_tcp_rfc7766_5(geodns_server):
    out = dig(geodns_server, "big.example.test", "TXT", "+ignore", "+noedns")
    assert "flags: qr aa tc rd;" in out
    whole = dig(geodns_server, "big.example.test", "TXT", "+noedns")  # dig retries over TCP itself
    assert "Truncated, retrying in TCP mode." in whole
    assert "ANSWER: 1," in whole


def test_kdig_edns_version_1_gets_badvers_rfc6891_6_1_3(geodns_server):
    binary = shutil.which("kdig")
    assert binary, "kdig is needed: apt-get install knot-dnsutils (./run test installs it)"
    result = subprocess.run(
        [
            binary,
            f"@{geodns_server.host}",
            "-p",
            str(geodns_server.port),
            "+edns=1",
            "example.test",
            "SOA",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "status: BADVERS" in result.stdout
    assert "Version: 0;" in result.stdout
