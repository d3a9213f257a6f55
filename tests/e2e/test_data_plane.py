"""Which data plane answers, and saying so: data_plane = auto | native | python, the fallback
when the C extension is missing, --version, /readyz and /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import pytest
from conftest import serve_test_zones
from harness import ROOT, SERVE_ZONES, clean_environ, loopback_args, start_geodns

pytestmark = pytest.mark.e2e

# python -c: geodns as if its C extension had never been built (the import fails)
WITHOUT_NATIVE = (
    "import runpy, sys; sys.modules['geodns.answer._native'] = None; sys.argv[0] = 'geodns'; "
    "runpy.run_module('geodns', run_name='__main__')"
)


def serve_args(workdir: Path, *extra: str) -> list[str]:
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    return [
        "serve",
        *loopback_args(zones, f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"),
        "--no-geoip",
        *extra,
    ]


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def metric_lines(api: str, name: str) -> list[str]:
    _, body = fetch(f"{api}/metrics")
    return [line for line in body.decode().splitlines() if line.startswith(name)]


def test_native_without_the_extension_refuses_to_start_and_says_why(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_NATIVE, *serve_args(tmp_path, "--data-plane", "native")],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=ROOT,
        timeout=30,
    )
    assert result.returncode == 1
    assert "data_plane = native, but the native data plane is not built" in result.stderr
    assert "build-essential python3-dev" in result.stderr
    assert "listening dns=" not in result.stderr  # refused before binding anything


def test_auto_without_the_extension_serves_on_python_and_warns_once(tmp_path):
    args = serve_args(tmp_path)
    command = [sys.executable, "-c", WITHOUT_NATIVE]
    server = start_geodns(args[1:], launcher=command)
    try:
        assert server.data_plane == "python"
        assert server.query("www.example.test.", "A").answer
        warnings = [line for line in server.lines if "WARNING" in line and "data plane" in line]
        assert len(warnings) == 1, warnings
        status, body = fetch(f"{server.api}/readyz")
        assert status == 200 and json.loads(body)["data_plane"] == "python"
    finally:
        server.stop()


def test_version_names_the_data_plane():
    built = subprocess.run(
        [sys.executable, "-m", "geodns", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert built.stdout.strip().endswith("data-plane=native")
    missing = subprocess.run(
        [sys.executable, "-c", WITHOUT_NATIVE, "--version"], capture_output=True, text=True
    )
    assert "data-plane=python (the native data plane is not built" in missing.stdout


@pytest.mark.parametrize("data_plane", ["native", "python"], indirect=True)
def test_readyz_and_metrics_name_the_data_plane_in_use(tmp_path, data_plane):
    server = serve_test_zones(tmp_path, data_plane=data_plane)
    try:
        status, body = fetch(f"{server.api}/readyz")
        assert status == 200 and json.loads(body)["data_plane"] == data_plane
        assert metric_lines(server.api, "geodns_data_plane_info") == [
            f'geodns_data_plane_info{{data_plane="{data_plane}"}} 1.0'
        ]
    finally:
        server.stop()


def test_the_native_loop_answers_repeats_itself_and_metrics_count_every_query(tmp_path):
    server = serve_test_zones(tmp_path, data_plane="native")
    try:
        query = dns.message.make_query("www.example.test.", "A")
        for _ in range(50):
            reply = dns.query.udp(query, server.host, port=server.port, timeout=2)
            assert [r.to_text() for rrset in reply.answer for r in rrset] == ["192.0.2.10"]
        [hits] = metric_lines(server.api, 'geodns_native_queries_total{outcome="hit"}')
        assert float(hits.split()[-1]) >= 49  # the first was the Python path's; then C's
        [counted] = [
            line
            for line in metric_lines(server.api, "geodns_queries_total")
            if 'qtype="A"' in line and 'transport="udp"' in line and 'rcode="NOERROR"' in line
        ]
        assert float(counted.split()[-1]) >= 50  # C's hits under the same labels as Python's
    finally:
        server.stop()
