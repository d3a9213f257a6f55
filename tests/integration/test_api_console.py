"""What the console reads, through the real app and database: whoami, the overview's
counts by state, a pool's live state with probes and answer shares, the nodes' heartbeats."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from api_client import ROLES, Api, run_api, settings_for

from geodns.answer.stats import MEMBER_SAMPLE_EVERY
from geodns.api.app import query_stats
from geodns.api.keys import RATES, SNAPSHOTS, STORE
from geodns.rates import sample_of
from geodns.store.repository import NodeBeat, Store

POOL = "lb.example.test."
DOC = {
    "name": POOL,
    "members": [
        {"address": "192.0.2.11", "weight": 300},
        {"address": "192.0.2.12", "weight": 100},
        {"address": "192.0.2.13"},
        {"address": "192.0.2.14"},
    ],
}


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    # flap damping after one change: the second report holds an address down
    settings = replace(settings_for(database_url, tmp_path), flap_max_changes=1)
    apps: list[web.Application] = []
    return lambda body: run_api(settings, lambda api: body(api, apps[0]), apps.append)


async def report(api: Api, address: str, status: str, reason: str = "") -> None:
    body = {"reports": [{"address": address, "status": status, "reason": reason}]}
    assert (await api.call("POST", "/api/v1/health/reports", body, token="prober")).status == 200


def test_whoami_names_the_token_and_its_role(serve):
    async def body(api: Api, app: web.Application) -> None:
        for role in ROLES:
            reply = await api.call("GET", "/api/v1/whoami", token=role)
            assert (reply.status, reply.body) == (200, {"name": role, "role": role})
        assert (await api.call("GET", "/api/v1/whoami", token="gdns_nope")).status == 401

    serve(body)


def test_overview_counts_members_up_down_held_and_drained(serve):
    async def body(api: Api, app: web.Application) -> None:
        assert (await api.call("POST", "/api/v1/pools", DOC, token="editor")).status == 201
        await report(api, "192.0.2.12", "down", "http 503")
        await report(api, "192.0.2.13", "down", "timeout")
        await report(api, "192.0.2.13", "up")  # a second change: held down (flap damping)
        drained = await api.call(
            "PATCH", f"/api/v1/pools/{POOL}/members/192.0.2.14", {"enabled": False}
        )
        assert drained.status == 200
        # the 5 s sampler's second sample would give a rate: on a loaded machine the steps
        # above can take that long, so the rates start again here with none
        app[RATES].samples.clear()
        overview = await api.call("GET", "/api/v1/overview", token="reader")
        assert overview.status == 200
        assert overview.body["pools"] == [
            {
                "name": POOL,
                "policy": "weighted",
                "served": True,
                "problem": None,
                "members": 4,
                "up": 1,
                "down": 1,
                "held": 1,
                "drained": 1,
                "qps": None,  # no two samples yet
                "redirects_per_s": None,
            }
        ]
        # the pool page says the same per member, the hold with its end
        state = await api.call("GET", f"/api/v1/pools/{POOL}/state", token="reader")
        members = {m["address"]: m for m in state.body["members"]}
        assert {a: m["state"] for a, m in members.items()} == {
            "192.0.2.11": "up",
            "192.0.2.12": "down",
            "192.0.2.13": "held",
            "192.0.2.14": "drained",
        }
        held = members["192.0.2.13"]
        assert held["detail"] == "held down by flap damping" and held["health"] == "down"
        assert datetime.fromisoformat(held["held_until"]) > datetime.now(UTC)
        assert [members[a]["held_until"] for a in ("192.0.2.11", "192.0.2.12")] == [None, None]
        assert [m["effective_weight"] for m in members.values()] == [None] * 4  # not adaptive
        node = overview.body["node"]
        assert node["generation"] == api.app[SNAPSHOTS].current.generation
        assert node["database_reachable"] is True
        bad = await api.call("GET", "/api/v1/overview?limit=0", token="reader")
        assert bad.status == 422

    serve(body)


def test_pool_state_shows_reasons_probes_and_answer_shares_beside_weight_shares(serve):
    async def body(api: Api, app: web.Application) -> None:
        await api.call("POST", "/api/v1/pools", DOC)
        await api.call("PATCH", f"/api/v1/pools/{POOL}/members/192.0.2.13", {"weight": 0})
        await api.call("PATCH", f"/api/v1/pools/{POOL}/members/192.0.2.14", {"weight": 0})
        await report(api, "192.0.2.12", "down", "connection refused")
        rates = app[RATES]
        rates.samples.clear()  # from now on; the 5 s sampler may add its own in between
        clock = asyncio.get_running_loop().time
        stats = query_stats(api.app)  # the native loop's counts are copies: read each time
        rates.add(sample_of(clock(), stats.answered, stats.member_answers))
        for _ in range(40):  # fresh query IDs and sources: the full path and the fast path
            assert await api.addresses(POOL) == {"192.0.2.11"}
        stats = query_stats(api.app)
        rates.add(sample_of(clock(), stats.answered, stats.member_answers))
        state = await api.call("GET", f"/api/v1/pools/{POOL}/state", token="reader")
        assert state.status == 200
        assert state.headers["ETag"] == '"3"' and state.body["version"] == 3
        assert state.body["qps"] == pytest.approx(40 / rates.span_s)
        members = {m["address"]: m for m in state.body["members"]}
        assert {a: (m["state"], m["detail"]) for a, m in members.items()} == {
            "192.0.2.11": ("up", ""),
            "192.0.2.12": ("down", "connection refused (prober)"),  # the decided reason
            "192.0.2.13": ("drained", "weight 0"),
            "192.0.2.14": ("drained", "weight 0"),
        }
        down = members["192.0.2.12"]
        assert [(p["probe"], p["status"], p["reason"], p["live"]) for p in down["probes"]] == [
            ("prober", "down", "connection refused", True)
        ]
        assert down["since"] is not None and down["health"] == "down"
        # the fast path counts one answer in MEMBER_SAMPLE_EVERY, each count worth that many
        assert abs(members["192.0.2.11"]["answers"] - 40) <= MEMBER_SAMPLE_EVERY
        assert members["192.0.2.11"]["answer_share"] == 1.0
        assert (members["192.0.2.12"]["answers"], members["192.0.2.12"]["answer_share"]) == (0, 0.0)
        # weight shares among the enabled members with weight: 300 and 100
        assert [members[a]["weight_share"] for a in sorted(members)] == [0.75, 0.25, 0.0, 0.0]
        missing = await api.call("GET", "/api/v1/pools/none.example.test/state", token="reader")
        assert missing.status == 404

    serve(body)


def test_nodes_come_from_heartbeats_and_silent_or_behind_ones_are_flagged(serve, database_url: str):
    async def body(api: Api, app: web.Application) -> None:
        now = datetime.now(UTC)
        old = await Store.open(database_url, clock=lambda: now - timedelta(minutes=5))
        try:
            started = now - timedelta(hours=2)
            await old.save_heartbeat(NodeBeat("gone-node", "0.0.9", started, 3, 1, None))
        finally:
            await old.close()
        behind = NodeBeat("slow-node", "0.1.0", now, 5, 0, now - timedelta(seconds=30))
        await api.app[STORE].save_heartbeat(behind)

        async def listed() -> bool:
            reply = await api.call("GET", "/api/v1/nodes", token="reader")
            return len(reply.body["nodes"]) == 3

        await api.eventually(listed, within_s=5)  # this node's first beat is at start
        reply = await api.call("GET", "/api/v1/nodes", token="reader")
        nodes = {n["name"]: n for n in reply.body["nodes"]}
        this = reply.body["this_node"]
        assert {name: n["flags"] for name, n in nodes.items()} == {
            "gone-node": ["silent"],
            "slow-node": ["behind"],
            this: [],
        }
        assert nodes[this]["store_generation"] == reply.body["store_generation"]
        assert nodes["gone-node"]["version"] == "0.0.9"

    serve(body)
