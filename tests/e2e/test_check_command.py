"""`geodns check`: validate zone files without serving, like named-checkzone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT, SERVE_ZONES, clean_environ

pytestmark = pytest.mark.e2e


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geodns", "check", str(path)],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=ROOT,
        timeout=30,
    )


def test_check_accepts_good_zones_and_prints_their_serials():
    result = check(SERVE_ZONES)
    assert result.returncode == 0, result.stderr
    assert "zone example.test. serial 2026112201" in result.stdout
    assert "zone other.test. serial 7" in result.stdout


def test_check_accepts_the_shipped_example_zone():
    result = check(ROOT / "zones")
    assert result.returncode == 0, result.stderr
    assert "zone example.com." in result.stdout


def test_check_names_file_line_and_problem_and_exits_1(tmp_path):
    (tmp_path / "good.test.zone").write_text(
        (SERVE_ZONES / "other.test.zone").read_text().replace("other.test.", "good.test.")
    )
    (tmp_path / "bad.test.zone").write_text(
        "$ORIGIN bad.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
        "www A 192.0.2.300\nns CNAME www\n"
    )
    result = check(tmp_path)
    assert result.returncode == 1
    assert "zone good.test." in result.stdout  # the other zone still loads
    lines = result.stderr.strip().splitlines()
    bad = str(tmp_path / "bad.test.zone")
    assert any(line.startswith(f"{bad}:6:") and "192.0.2.300" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:7:") and "CNAME" in line for line in lines), lines


def test_check_on_a_missing_directory_exits_1(tmp_path):
    result = check(tmp_path / "absent")
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_check_accepts_a_single_zone_file():
    result = check(SERVE_ZONES / "other.test.zone")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{SERVE_ZONES / 'other.test.zone'}: zone other.test. serial 7: 3 records OK\n"
    )


def test_check_on_a_single_bad_file_names_its_line_and_exits_1(tmp_path):
    bad = tmp_path / "bad.test.zone"
    bad.write_text("$ORIGIN bad.test.\n@ 60 SOA ns hm 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.300\n")
    result = check(bad)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{bad}:4: "), result.stderr
    assert "192.0.2.300" in result.stderr
