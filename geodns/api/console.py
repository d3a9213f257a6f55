"""What the console reads that no other resource gives in one call: who the caller is, the
overview of every pool, one pool's live state, and the nodes sharing the database.

Control plane, read-only. Health comes from the store (decided state, since when, flap
damping's hold, each probe's report), rates from this node's own counters (geodns.rates),
check latencies from this node's built-in checker.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from geodns.api.http import JSON, caller, etag, next_link
from geodns.api.keys import CHECKER, CLOCK, HEARTBEAT, PUBLISHER, RATES, SNAPSHOTS
from geodns.api.pools import fetch_pool_page, pool_name, store_of
from geodns.dns import names
from geodns.health.damping import hold_end
from geodns.heartbeat import node_flags
from geodns.pools.model import Member, Policy, member_to_document
from geodns.rates import Rates
from geodns.store.repository import AddressState, Report

STATES = ("up", "down", "held", "drained")


async def get_whoami(request: web.Request) -> web.Response:
    token = caller(request)
    return web.json_response({"name": token.name, "role": token.role})


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def member_state(member: Member, state: AddressState | None, now: datetime) -> tuple[str, str]:
    """(state, detail): drained (the operator's choice) before held before down before up."""
    if not member.enabled:
        return "drained", "disabled"
    if member.weight == 0:
        return "drained", "weight 0"
    if state is None or not state.down:
        return "up", ""
    if hold_end(state.history, now.timestamp()) is not None:
        return "held", "held down by flap damping"
    return "down", state.reason or "reported down"


def _rates(request: web.Request) -> Rates:
    return request.app[RATES] if RATES in request.app else Rates()


async def get_overview(request: web.Request) -> web.Response:
    """This node and a page of pools with their member counts by state and their rates."""
    shown, cursor = await fetch_pool_page(request)
    states, _ = await store_of(request).address_states(m.address for p in shown for m in p.members)
    now = request.app[CLOCK]()
    snapshot = request.app[SNAPSHOTS].current
    rates = _rates(request)
    summaries = []
    for pool in shown:
        counts = dict.fromkeys(STATES, 0)
        for member in pool.members:
            counts[member_state(member, states.get(member.address), now)[0]] += 1
        summaries.append(
            {
                "name": pool.name,
                "policy": pool.policy.value,
                "served": names.from_text(pool.name) in snapshot.pools,
                "problem": _problem(snapshot.problems, pool.name),
                "members": len(pool.members),
                **counts,
                "qps": rates.pool_qps(pool.name),
                "redirects_per_s": rates.redirects_ps(pool.name),
            }
        )
    heartbeat = request.app.get(HEARTBEAT)
    publisher = request.app.get(PUBLISHER)
    return web.json_response(
        {
            "node": {
                "name": heartbeat.name if heartbeat is not None else "",
                "version": heartbeat.version if heartbeat is not None else "",
                "generation": snapshot.generation,
                "store_generation": snapshot.store_generation,
                "database_reachable": publisher is not None and publisher.store_reachable,
            },
            "rates_span_s": rates.span_s,
            "pools": summaries,
            "next": next_link(request, cursor),
        }
    )


def _problem(problems: tuple[str, ...], name: str) -> str | None:
    prefix = f"pool {name}"
    return next((p for p in problems if p.startswith(prefix)), None)


def _probes(reports: list[Report], now: datetime) -> list[JSON]:
    return [
        {
            "probe": r.probe,
            "status": "down" if r.down else "up",
            "reason": r.reason,
            "reported_at": r.reported_at.isoformat(),
            "live": now.timestamp() < r.reported_at.timestamp() + r.ttl_s,
        }
        for r in reports
    ]


async def get_pool_state(request: web.Request) -> web.Response:
    """One pool's members as the console shows them; the ETag is the pool's version, for
    the If-Match of the console's edits."""
    name = pool_name(request)
    pool, version = await store_of(request).get_pool(name)
    states, reports = await store_of(request).address_states(m.address for m in pool.members)
    now = request.app[CLOCK]()
    snapshot = request.app[SNAPSHOTS].current
    rates = _rates(request)
    checker = request.app.get(CHECKER)
    answers = {m.address: rates.member_answers(pool.name, m.address) for m in pool.members}
    answered = sum(a or 0 for a in answers.values())
    weights = {m.address: m.weight for m in pool.members if m.enabled and m.weight > 0}
    total_weight = sum(weights.values())
    members = []
    for member in pool.members:
        state = states.get(member.address)
        shown, detail = member_state(member, state, now)
        held = None if state is None else hold_end(state.history, now.timestamp())
        latency = checker.last_latency_s(member.address) if checker is not None else None
        effective = None
        if pool.policy is Policy.ADAPTIVE:
            effective = snapshot.health.effective_weights.get(member.address, member.weight)
        count = answers[member.address]
        members.append(
            {
                **member_to_document(member),
                "effective_weight": effective,
                "state": shown,
                "detail": detail,
                "health": "down" if state is not None and state.down else "up",
                "reason": state.reason if state is not None else "",
                "since": _time(state.since if state is not None else None),
                "held_until": None
                if held is None
                else datetime.fromtimestamp(held, now.tzinfo).isoformat(),
                "probes": _probes(reports.get(member.address, []), now),
                "latency_ms": None if latency is None else round(latency * 1000, 1),
                "answers": count,
                "answer_share": None if count is None or not answered else count / answered,
                "weight_share": weights.get(member.address, 0) / total_weight
                if total_weight
                else 0.0,
            }
        )
    response = web.json_response(
        {
            "name": pool.name,
            "version": version,
            "policy": pool.policy.value,
            "served": names.from_text(pool.name) in snapshot.pools,
            "problem": _problem(snapshot.problems, pool.name),
            "qps": rates.pool_qps(pool.name),
            "redirects_per_s": rates.redirects_ps(pool.name),
            "rates_span_s": rates.span_s,
            "members": members,
        }
    )
    response.headers["ETag"] = etag(version)
    return response


async def list_nodes(request: web.Request) -> web.Response:
    """Every node that shares this database, with what the console flags about it."""
    store = store_of(request)
    nodes = await store.list_nodes()
    now = request.app[CLOCK]()
    generation = await store.generation()
    heartbeat = request.app.get(HEARTBEAT)
    return web.json_response(
        {
            "store_generation": generation,
            "this_node": heartbeat.name if heartbeat is not None else None,
            "nodes": [
                {
                    "name": n.beat.name,
                    "version": n.beat.version,
                    "started_at": n.beat.started_at.isoformat(),
                    "last_seen": n.last_seen.isoformat(),
                    "seconds_since_seen": round((now - n.last_seen).total_seconds(), 1),
                    "snapshot_generation": n.beat.snapshot_generation,
                    "store_generation": n.beat.store_generation,
                    "behind_since": _time(n.beat.behind_since),
                    "flags": node_flags(n, now),
                }
                for n in nodes
            ],
        }
    )
