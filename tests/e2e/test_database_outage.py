"""The database goes away or hangs under a running node (issue 12 §5): DNS answers from the
last snapshot, /readyz says 503 and why, the API answers 503 with Retry-After instead of
hanging, and everything comes back by itself; a second node follows within a second.

The machine's PostgreSQL is shared, so an outage is made by a proxy of the test's own
(tests/dbproxy.py). SQLite's outage is its file overwritten in place (the node's open
connections read garbage) and restored; its hang is the write lock held by another
connection (readers never wait in WAL mode, so reads and /readyz go on).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dns.rcode
import pytest
from databases import BACKENDS
from dbproxy import DatabaseProxy
from harness import DATA, SERVE_ZONES, GeodnsProcess, apply_pools, create_token, start_geodns
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e
POOLS_FILE = DATA / "pools" / "example.test.yaml"
POOL = "failover.example.test."  # 192.0.2.171 answers; drained, 192.0.2.181 does
# short bounds, so an outage shows within a test's patience (the defaults are seconds)
TIMEOUTS = {
    "GEODNS_DATABASE_CONNECT_TIMEOUT_S": "1",
    "GEODNS_DATABASE_STATEMENT_TIMEOUT_S": "1.5",
    "GEODNS_READINESS_TIMEOUT_S": "0.5",
}


class SqliteOutage:
    """down(): the file overwritten in place; hang(): the write lock held; up(): as before."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(make_url(url).database or "")
        self._saved: bytes | None = None
        self._locker: sqlite3.Connection | None = None

    def down(self) -> None:
        checkpoint = sqlite3.connect(self.path)
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
        checkpoint.close()
        self._saved = self.path.read_bytes()
        with self.path.open("r+b") as file:  # same inode: the node's connections see it
            file.write(b"this is not a database" * (len(self._saved) // 22))

    def hang(self) -> None:
        self._locker = sqlite3.connect(self.path, isolation_level=None)
        self._locker.execute("BEGIN IMMEDIATE")

    def up(self) -> None:
        if self._saved is not None:
            with self.path.open("r+b") as file:
                file.write(self._saved)
            self._saved = None
        if self._locker is not None:
            self._locker.execute("ROLLBACK")
            self._locker.close()
            self._locker = None

    def close(self) -> None:
        self.up()


def outage_for(backend: str, database_url: str) -> DatabaseProxy | SqliteOutage:
    if backend == "postgresql":
        return DatabaseProxy.for_url(database_url)
    return SqliteOutage(database_url)


def served_url(outage: DatabaseProxy | SqliteOutage, database_url: str) -> str:
    return outage.url(database_url) if isinstance(outage, DatabaseProxy) else database_url


def start_node(address: str, zones: Path, database: str, *, api: bool = True) -> GeodnsProcess:
    return start_geodns(
        [
            "--dns",
            f"{address}:0",
            "--api",
            f"{address}:0" if api else "off",
            "--zones",
            str(zones),
            "--database",
            database,
            "--no-geoip",
        ],
        env=TIMEOUTS,
    )


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any, Any]:
    """(status, headers, parsed JSON body); the timeout is what a hang would hit."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read() or b"null")


def answers(server: GeodnsProcess, qname: str, *, tcp: bool = False) -> set[str]:
    reply = server.query(qname, "A", tcp=tcp)
    return {r.to_text() for rrset in reply.answer for r in rrset}


def readyz(node: GeodnsProcess) -> tuple[int, Any]:
    status, _, body = http("GET", node.api + "/readyz")
    return status, body


def wait_for_readyz(
    node: GeodnsProcess, status: int, reason: str = "", timeout_s: float = 15.0
) -> Any:
    """The first /readyz body with that status (and, if given, a reason starting so: on a
    loaded machine a refused connection can take longer than the probe's deadline, and
    'timed out' comes first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got, body = readyz(node)
        if got == status and (not reason or body["reasons"][0].startswith(reason)):
            return body
        assert time.monotonic() < deadline, f"/readyz still {got}: {body}"
        time.sleep(0.05)


def drain(node: GeodnsProcess, token: str, address: str, weight: int) -> tuple[int, Any, Any]:
    return http(
        "PATCH",
        f"{node.api}/api/v1/pools/{POOL}/members/{address}",
        {"weight": weight},
        token,
    )


def assert_dns_answers_as_before(node: GeodnsProcess, pool: set[str]) -> None:
    """UDP and TCP, a pool, a static name and a name that does not exist: all from the
    snapshot the node had before the database went (no answer lost, none changed)."""
    for tcp in (False, True):
        for _ in range(10):
            assert answers(node, POOL, tcp=tcp) == pool
            assert answers(node, "www.other.test.", tcp=tcp) == {"192.0.2.200"}
            assert node.query("absent.example.test.", tcp=tcp).rcode() == dns.rcode.NXDOMAIN


@pytest.fixture
def zones(tmp_path: Path, database_url: str) -> Path:
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    apply_pools(database_url, zones, POOLS_FILE)
    return zones


@pytest.mark.parametrize("mode", ["down", "hang"])
def test_a_database_outage_is_503_with_the_reason_while_dns_answers_from_the_snapshot(
    backend, database_url, zones, mode
):
    token = create_token(database_url, "admin", "ops")
    outage = outage_for(backend, database_url)
    node = start_node("127.0.0.31", zones, served_url(outage, database_url))
    try:
        assert readyz(node)[0] == 200
        pool = answers(node, POOL)
        assert pool == {"192.0.2.171"}
        getattr(outage, mode)()
        # SQLite's held write lock stops writers only: readers (and /readyz) go on, truly
        reads_fail = not (backend == "sqlite" and mode == "hang")
        if reads_fail:
            expected = "database timed out" if mode == "hang" else "database unreachable"
            body = wait_for_readyz(node, 503, expected)
            assert body["ready"] is False and body["status"] == "not_ready"
            assert body["checks"]["database_reachable"] is False
            [reason] = body["reasons"]
            assert reason.startswith(expected), reason
        else:
            assert readyz(node)[0] == 200
        assert_dns_answers_as_before(node, pool)
        # a write is refused at once with the JSON error body, not held (issue 12 §5)
        status, headers, body = drain(node, token, "192.0.2.171", 0)
        assert status == 503, body
        assert headers["Retry-After"] == "1"
        assert set(body) == {"error", "problems", "request_id"}
        assert body["error"].startswith("database unavailable"), body
        assert_dns_answers_as_before(node, pool)
        outage.up()
        # back by itself: ready again, and the next write lands and is answered
        wait_for_readyz(node, 200)
        status, _, body = drain(node, token, "192.0.2.171", 0)
        assert status == 200, body
        assert answers(node, POOL) == {"192.0.2.181"}
    finally:
        node.stop()
        outage.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", [p for p in BACKENDS if p.id == "postgresql"])
def test_after_an_outage_a_change_through_node_a_reaches_node_b_within_a_second(
    backend, database_url, zones
):
    token = create_token(database_url, "editor", "ops")
    proxy = DatabaseProxy.for_url(database_url)
    url = proxy.url(database_url)
    a = start_node("127.0.0.32", zones, url)
    b = None
    try:
        b = start_node("127.0.0.33", zones, url, api=False)
        assert answers(b, POOL) == {"192.0.2.171"}
        proxy.down()
        # long enough for the old backoff (0.5, 1, 2, 4, 8 s...) to leave B blind for seconds
        a.wait_for_log(r"WARNING .*store watch failed")
        b.wait_for_log(r"WARNING .*store watch failed")
        time.sleep(8)  # the outage itself: nothing to poll for
        proxy.up()
        returned = time.monotonic()
        while (status := drain(a, token, "192.0.2.171", 0)[0]) != 200:
            assert status == 503 and time.monotonic() - returned < 10
            time.sleep(0.02)
        written = time.monotonic() - returned
        while answers(b, POOL) != {"192.0.2.181"}:
            assert time.monotonic() - returned < 10, (
                f"node B stale 10 s after the outage; its log:\n{b.log()}"
            )
            time.sleep(0.01)
        reached = time.monotonic() - returned
        # the promise is 1 s (bench/db_outage.py measures it, not this test); the bound only
        # tells the fix from the old backoff's ~8 s, with room for a loaded CI machine
        assert reached < 5.0, f"write acknowledged after {written:.2f} s, on B at {reached:.2f} s"
        b.wait_for_log(r"INFO .*store watch recovered")
    finally:
        for node in (a, b):
            if node is not None:
                node.stop()
        proxy.close()
