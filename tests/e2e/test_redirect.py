"""`geodns serve --http`: the real process redirecting curl, as a download site would use it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import MAXMIND, SERVE_ZONES, GeodnsProcess, apply_pools, start_geodns

pytestmark = pytest.mark.e2e
LISTEN_HTTP = r"listening http=(http://\S+)"
POOLS = """
pools:
  - name: dl.example.test
    max_answers: 2
    default_regions: [us, eu]
    members:
      - {address: 192.0.2.11, region: us, url: "https://us1.example.test/pub"}
      - {address: 192.0.2.12, region: us, url: "https://us2.example.test/pub"}
      - {address: 192.0.2.21, region: eu, url: "https://eu1.example.test/pub"}
    rules:
      - {match: {continent: EU}, regions: [eu, us]}
"""


@pytest.fixture(scope="module")
def redirector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GeodnsProcess, str]]:
    workdir = tmp_path_factory.mktemp("redirect")
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    (workdir / "pools.yaml").write_text(POOLS)
    apply_pools(database, zones, workdir / "pools.yaml")
    server = start_geodns(
        [
            "--dns",
            "127.0.0.1:0",
            "--api",
            "off",
            "--http",
            "127.0.0.1:0",
            "--http-trusted-proxies",
            "127.0.0.0/8",
            "--zones",
            str(zones),
            "--database",
            database,
            "--geoip-db",
            str(MAXMIND / "GeoIP2-City-Test.mmdb"),
        ]
    )
    base = server.wait_for_log(LISTEN_HTTP).group(1)
    yield server, base
    assert server.stop() == 0


def curl(*args: str) -> tuple[str, dict[str, str], str]:
    """(status line, headers by lower-case name, body) of one curl request."""
    done = subprocess.run(
        ["curl", "-s", "-i", "--max-time", "5", *args], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.replace("\r\n", "\n").partition("\n\n")
    status, *lines = head.split("\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    return status, headers, body


def test_curl_is_redirected_by_the_pool_in_its_host_header(redirector):
    _, base = redirector
    status, headers, body = curl("-H", "Host: dl.example.test", f"{base}/iso/f.iso?mirror=any")
    assert status == "HTTP/1.1 302 Found"
    location, link = headers["location"], headers["link"]
    assert location in (
        "https://us1.example.test/pub/iso/f.iso?mirror=any",
        "https://us2.example.test/pub/iso/f.iso?mirror=any",
    )
    other = ({"us1", "us2"} - {location[8:11]}).pop()
    assert link == f"<https://{other}.example.test/pub/iso/f.iso?mirror=any>; rel=duplicate; pri=1"
    assert headers["cache-control"] == "private, no-cache"
    assert body == f"redirecting to {location}\n"


def test_a_european_client_behind_the_trusted_proxy_goes_to_eu_and_can_ask_for_json(redirector):
    _, base = redirector
    status, headers, body = curl(
        "-H",
        "Host: dl.example.test",
        "-H",
        "X-Forwarded-For: 81.2.69.142",  # GB in MaxMind's test data
        "-H",
        "Accept: application/json",
        f"{base}/iso/f.iso",
    )
    assert (status, headers["content-type"]) == ("HTTP/1.1 200 OK", "application/json")
    assert json.loads(body) == {
        "pool": "dl.example.test.",
        "client": "81.2.69.142",
        "url": "https://eu1.example.test/pub/iso/f.iso",
        "address": "192.0.2.21",
        "alternates": [],
    }


def test_curl_follows_nothing_to_nowhere_for_unknown_hosts(redirector):
    _, base = redirector
    status, headers, body = curl("-H", "Host: www.example.test", f"{base}/")
    assert status == "HTTP/1.1 404 Not Found" and "location" not in headers
    assert body == "no pool www.example.test is served here\n"


def test_head_is_answered_like_get_without_a_body(redirector):
    _, base = redirector
    status, headers, body = curl("-I", "-H", "Host: dl.example.test", f"{base}/x")
    assert status == "HTTP/1.1 302 Found" and headers["location"].endswith("/pub/x")
    assert body == ""


def test_the_redirector_is_off_by_default(tmp_path: Path):
    server = start_geodns(
        [
            "--dns",
            "127.0.0.1:0",
            "--api",
            "off",
            "--zones",
            str(SERVE_ZONES),
            "--no-geoip",
            "--database",
            f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}",
        ]
    )
    try:
        assert "listening http=" not in server.log()
    finally:
        assert server.stop() == 0
