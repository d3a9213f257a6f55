"""Several nodes on one database, and DNS that outlives the database (issue 3 §6 and §8)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import dns.rcode
import pytest
from dbproxy import DatabaseProxy
from harness import (
    DATA,
    SERVE_ZONES,
    GeodnsProcess,
    apply_pools,
    create_token,
    start_geodns,
)
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
POOLS_FILE = DATA / "pools" / "example.test.yaml"


def answers(server: GeodnsProcess, qname: str) -> set[str]:
    reply = server.query(qname, "A")
    return {r.to_text() for rrset in reply.answer for r in rrset}


def wait_for_answer(server: GeodnsProcess, qname: str, expected: set[str], timeout: float) -> float:
    started = time.monotonic()
    while (got := answers(server, qname)) != expected:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{qname} at {server.host} answers {got}, wanted {expected}")
        time.sleep(0.02)
    return time.monotonic() - started


def start_node(address: str, zones: Path, database: str) -> GeodnsProcess:
    return start_geodns(
        [
            "--dns",
            f"{address}:0",
            "--api",
            "off",
            "--zones",
            str(zones),
            "--database",
            database,
            "--no-geoip",
        ]
    )


def test_a_change_made_through_one_node_reaches_the_other_within_a_second(tmp_path, database_url):
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    apply_pools(database_url, zones, POOLS_FILE)
    token = create_token(database_url, "editor", "ops")
    nodes = [
        start_geodns(
            [
                "--dns",
                "127.0.0.21:0",
                "--api",
                "127.0.0.21:0",
                "--zones",
                str(zones),
                "--database",
                database_url,
                "--no-geoip",
            ]
        )
    ]
    try:
        nodes.append(start_node("127.0.0.22", zones, database_url))
        for node in nodes:
            assert answers(node, "open.example.test.") <= {"192.0.2.141", "192.0.2.142"}
            wait_for_answer(node, "failover.example.test.", {"192.0.2.171"}, timeout=1.0)
        # drain one member through node A's REST API, as an operator would
        request = urllib.request.Request(
            nodes[0].api + "/api/v1/pools/open.example.test./members/192.0.2.141",
            method="PATCH",
            data=json.dumps({"weight": 0}).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/merge-patch+json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        wait_for_answer(nodes[0], "open.example.test.", {"192.0.2.142"}, timeout=0.2)  # at once
        wait_for_answer(nodes[1], "open.example.test.", {"192.0.2.142"}, timeout=1.0)
    finally:
        for node in nodes:
            node.stop()


def test_dns_keeps_answering_from_the_last_snapshot_when_the_database_goes_away(
    backend, tmp_path, database_url
):
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    apply_pools(database_url, zones, POOLS_FILE)
    proxy = None
    serve_url = database_url
    if backend == "postgresql":  # cut a real TCP path between the node and PostgreSQL
        proxy = DatabaseProxy.for_url(database_url)
        serve_url = proxy.url(database_url)
    node = start_node("127.0.0.23", zones, serve_url)
    try:
        before = answers(node, "failover.example.test.")
        assert before == {"192.0.2.171"}
        if proxy is not None:
            proxy.down()
        else:  # the SQLite file turns to garbage under the running node
            path = Path(make_url(database_url).database or "")
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            path.write_bytes(b"this is not a database" * 100)
        node.wait_for_log(r"WARNING .*(unavailable|failed)", timeout=15)
        for _ in range(20):  # still answering, from the snapshot it had
            assert answers(node, "failover.example.test.") == before
            assert node.query("absent.example.test.", "A").rcode() == dns.rcode.NXDOMAIN
    finally:
        node.stop()
        if proxy is not None:
            proxy.close()
