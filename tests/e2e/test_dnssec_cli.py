"""`geodns dnssec ...` as an operator types it: a secret, enable, status, ds, rollover,
and the refusals that keep a validator's chain of trust intact."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import pytest
from harness import ROOT, SERVE_ZONES, clean_environ

pytestmark = pytest.mark.e2e
DS_LINE = re.compile(r"example\.test\. IN DS (\d+) 13 2 ([0-9A-F]{64})")


def geodns(
    workdir: Path, *args: str, secret: str | None = None
) -> subprocess.CompletedProcess[str]:
    extra = {"GEODNS_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"}
    if secret is not None:
        extra["GEODNS_DNSSEC_KEY_SECRET"] = secret
    if args[1] != "secret":  # the one action without settings
        args = (*args, "--zones", str(workdir / "zones"))
    return subprocess.run(
        [sys.executable, "-m", "geodns", *args],
        capture_output=True,
        text=True,
        env=clean_environ(extra),
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(SERVE_ZONES, tmp_path / "zones")
    return tmp_path


def test_an_operator_signs_a_zone_and_hands_the_ds_to_the_parent(workdir: Path) -> None:
    made = geodns(workdir, "dnssec", "secret")
    assert made.returncode == 0 and len(made.stdout.strip()) == 43
    secret = made.stdout.strip()

    refused = geodns(workdir, "dnssec", "enable", "example.test")
    assert refused.returncode == 1
    assert "needs dnssec_key_secret" in refused.stderr and refused.stdout == ""

    enabled = geodns(workdir, "dnssec", "enable", "example.test", secret=secret)
    assert enabled.returncode == 0, enabled.stderr
    assert "step: signed" in enabled.stdout

    ds = geodns(workdir, "dnssec", "ds", "example.test.")
    assert ds.returncode == 0
    [line] = ds.stdout.splitlines()
    match = DS_LINE.fullmatch(line)
    assert match, line

    status = geodns(workdir, "dnssec", "status", "example.test", "--json")
    document = json.loads(status.stdout)
    [key] = document["keys"]
    dnskey = dns.rdata.from_text("IN", "DNSKEY", key["dnskey"])
    expected = dns.dnssec.make_ds(dns.name.from_text("example.test."), dnskey, "SHA256")
    assert line == f"example.test. IN DS {expected.to_text().upper()}"
    assert int(match.group(1)) == dns.dnssec.key_id(dnskey)

    again = geodns(workdir, "dnssec", "enable", "example.test", secret=secret)
    assert again.returncode == 1 and "signed already" in again.stderr
    absent = geodns(workdir, "dnssec", "enable", "absent.test", secret=secret)
    assert absent.returncode == 1 and "no zone file serves absent.test." in absent.stderr
    other = geodns(workdir, "dnssec", "enable", "other.test", secret="x" * 40)
    assert other.returncode == 1 and "sealed with one dnssec_key_secret" in other.stderr


def test_a_rollover_from_the_command_line_shows_each_step(workdir: Path) -> None:
    secret = geodns(workdir, "dnssec", "secret").stdout.strip()
    enabled = geodns(
        workdir, "dnssec", "enable", "example.test", "--algorithm", "15", secret=secret
    )
    assert enabled.returncode == 0, enabled.stderr
    algorithm = geodns(
        workdir, "dnssec", "rollover", "example.test", "--algorithm", "13", secret=secret
    )
    assert algorithm.returncode == 1 and "RFC 6781 §4.1.4" in algorithm.stderr
    started = geodns(workdir, "dnssec", "rollover", "example.test", secret=secret)
    assert started.returncode == 0, started.stderr
    assert "step: pre-publish" in started.stdout
    assert started.stdout.count("IN DNSKEY 257 3 15 ") == 2
    early = geodns(workdir, "dnssec", "rollover", "example.test", "--ds-replaced")
    assert early.returncode == 1 and "must not move to it before then" in early.stderr
    listing = geodns(workdir, "dnssec", "status")
    assert listing.stdout.splitlines()[0].startswith("zone example.test.: signed with algorithm 15")
