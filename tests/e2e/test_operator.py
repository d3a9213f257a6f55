"""What an operator does, end to end: `geodns serve`, a token from the CLI, a pool over
HTTP, answers seen with dnspython and dig, a probe reporting a member down and up, and the
audit trail of it all."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from harness import GeodnsProcess, geodns_command
from polling import within

pytestmark = pytest.mark.e2e
LB = "lb.example.test."
TOKEN = re.compile(r"gdns_[A-Za-z0-9_-]{43}")


def http(
    server: GeodnsProcess, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.api + path, method=method, data=None if body is None else json.dumps(body).encode()
    )
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def dig(server: GeodnsProcess, name: str) -> str:
    binary = shutil.which("dig")
    assert binary, "dig is needed: apt-get install bind9-dnsutils (./run test installs it)"
    return subprocess.run(
        [binary, f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", name, "A"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout


def answers(server: GeodnsProcess) -> set[str]:
    reply = server.query(LB, "A")
    return {rr.to_text() for rrset in reply.answer for rr in rrset}


def test_an_operator_adds_a_pool_and_a_probe_takes_a_member_out_and_back(
    fresh_geodns_server: GeodnsProcess, tmp_path: Path
):
    server = fresh_geodns_server
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"

    created = geodns_command(
        "token", "create", "--role", "admin", "--name", "ops", "--database", database
    )
    assert created.returncode == 0, created.stderr
    assert TOKEN.fullmatch(created.stdout.removesuffix("\n")), created.stdout
    admin = created.stdout.strip()
    prober = geodns_command(
        "token", "create", "--role", "prober", "--name", "probe-eu1", "--database", database
    ).stdout.strip()

    status, pool = http(
        server,
        "POST",
        "/api/v1/pools",
        {
            "name": LB,
            "ttl": 30,
            "members": [{"address": "192.0.2.11"}, {"address": "192.0.2.12"}],
        },
        admin,
    )
    assert status == 201, pool
    assert [m["address"] for m in pool["members"]] == ["192.0.2.11", "192.0.2.12"]

    seen: set[str] = set()
    within(2.0, lambda: seen.update(answers(server)) or seen == {"192.0.2.11", "192.0.2.12"})
    out = dig(server, LB)
    assert "status: NOERROR" in out
    assert re.search(r"^lb\.example\.test\.\t30\tIN\tA\t192\.0\.2\.1[12]$", out, re.M), out

    status, result = http(
        server,
        "POST",
        "/api/v1/health/reports",
        {"reports": [{"address": "192.0.2.11", "status": "down", "reason": "http 503"}]},
        prober,
    )
    assert (status, result["addresses"][0]["transition"]) == (200, True)
    gone_after = within(1.0, lambda: all(answers(server) == {"192.0.2.12"} for _ in range(20)))
    assert gone_after < 1.0
    assert "192.0.2.11" not in dig(server, LB)

    status, _ = http(
        server,
        "POST",
        "/api/v1/health/reports",
        {"reports": [{"address": "192.0.2.11", "status": "up", "reason": "http 200"}]},
        prober,
    )
    assert status == 200
    within(1.0, lambda: "192.0.2.11" in answers(server))

    status, failed = http(server, "GET", "/api/v1/health/failed", token=admin)
    assert (status, failed) == (200, {"failed": []})
    status, audit = http(server, "GET", "/api/v1/audit", token=admin)
    assert status == 200
    assert [(e["actor"], e["action"], e["target"]) for e in audit["entries"]] == [
        ("probe-eu1", "health.up", "health/192.0.2.11"),
        ("probe-eu1", "health.down", "health/192.0.2.11"),
        ("ops", "pool.create", f"pools/{LB}"),
        ("local", "token.create", "tokens/probe-eu1"),
        ("local", "token.create", "tokens/ops"),
        # the first geodns on a database makes the DNS cookie secret (RFC 9018 §4), audited
        ("local", "cookies.create", "cookie secret"),
    ]
    # the reason names the probes that voted down (geodns.health.state.decide)
    assert audit["entries"][1]["after"] == {
        "down": True,
        "reason": "http 503 (probe-eu1)",
        "votes": {"probe-eu1": True},
    }
    # the prober may report, not edit
    status, refused = http(server, "DELETE", f"/api/v1/pools/{LB}", token=prober)
    assert status == 403, refused
