"""`geodns serve --workers N`: processes sharing the DNS port with SO_REUSEPORT (issue 6)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import time
import urllib.request
from typing import Any

import dns.message
import dns.query
import pytest
from harness import (
    DATA,
    SERVE_ZONES,
    GeodnsProcess,
    apply_pools,
    create_token,
    drain_member,
    start_geodns,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def answers_from_many_sockets(host: str, port: int, qname: str, count: int = 64) -> list[set[str]]:
    """One query from each of count fresh source ports: the kernel's SO_REUSEPORT hash
    spreads them over every process's socket."""
    results = []
    for _ in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            reply = dns.query.udp(
                dns.message.make_query(qname, "A"), host, port=port, timeout=2, sock=sock
            )
        results.append({r.to_text() for rrset in reply.answer for r in rrset})
    return results


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


def every_process_answers(server: GeodnsProcess, qname: str, expected: set[str]) -> None:
    """Poll from many source ports until every process answers expected (5 s at most)."""
    deadline = time.monotonic() + 5
    while not all(
        a == expected for a in answers_from_many_sockets(server.host, server.port, qname, 32)
    ):
        assert time.monotonic() < deadline, f"a worker kept the old zone for {qname}"
        time.sleep(0.05)


def post(server: GeodnsProcess, path: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(server.api + path, data=b"", method="POST")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def test_workers_share_the_port_follow_changes_reload_by_signal_or_api_and_stop_together(
    tmp_path, data_plane
):
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    apply_pools(database, zones, DATA / "pools" / "example.test.yaml")
    server = start_geodns(
        [
            "--dns",
            "127.0.0.31:0",
            "--api",
            "127.0.0.1:0",
            "--zones",
            str(zones),
            "--database",
            database,
            "--no-geoip",
            "--workers",
            "2",
            "--poll-interval-s",
            "0.1",
            "--data-plane",
            data_plane,
        ]
    )
    try:
        worker = server.wait_for_log(r"worker started index=0 pid=(\d+)")
        worker_pid = int(worker.group(1))
        # the worker binds the same port and announces it like any listener
        server.wait_for_log(rf"listening dns=127\.0\.0\.31:{server.port} ", timeout=10)
        deadline = time.monotonic() + 10
        while len(re.findall(rf"listening dns=127\.0\.0\.31:{server.port} ", server.log())) < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        # the worker serves on the same data plane
        planes = re.findall(
            rf"listening dns=127\.0\.0\.31:{server.port} .*data_plane=(\w+)", server.log()
        )
        assert planes == [data_plane, data_plane]
        # every process answers the same data
        assert all(
            a == {"192.0.2.171"}
            for a in answers_from_many_sockets(server.host, server.port, "failover.example.test.")
        )
        # a change reaches every process within a second (issue 6: same generation within 1 s)
        drain_member(database, "open.example.test.", "192.0.2.141")
        started = time.monotonic()
        while True:
            seen = answers_from_many_sockets(server.host, server.port, "open.example.test.", 32)
            if all(a == {"192.0.2.142"} for a in seen):
                break
            assert time.monotonic() - started < 1.0 + 0.5, f"not every worker followed: {seen}"
        # SIGHUP to the main process reloads zones in the workers too
        zone = zones / "example.test.zone"
        zone.write_text(
            zone.read_text()
            .replace("2026112201", "2026112202")
            .replace("mail     A     192.0.2.25", "mail     A     192.0.2.26")
        )
        server.process.send_signal(signal.SIGHUP)
        every_process_answers(server, "mail.example.test.", {"192.0.2.26"})
        # POST /api/v1/zones/reload is the same reload command: the workers reload too
        zone.write_text(
            zone.read_text()
            .replace("2026112202", "2026112203")
            .replace("mail     A     192.0.2.26", "mail     A     192.0.2.27")
        )
        token = create_token(database, "admin", "ops")
        status, body = post(server, "/api/v1/zones/reload", token)
        assert status == 200 and body["errors"] == [], body
        every_process_answers(server, "mail.example.test.", {"192.0.2.27"})
        assert server.stop(signal.SIGTERM) == 0
        deadline = time.monotonic() + 5
        while pids_alive([worker_pid]):
            assert time.monotonic() < deadline, "the worker outlived the main process"
            time.sleep(0.05)
    finally:
        server.stop()
        for pid in pids_alive(
            [int(m) for m in re.findall(r"worker started index=\d+ pid=(\d+)", server.log())]
        ):
            os.kill(pid, signal.SIGKILL)
