"""/api/v1/health: probes report addresses up or down; dashboards read what is down and why.

Control plane. The reports' meaning is decided by geodns.health.service; a batch that
changes what DNS serves rebuilds the snapshot before the response, so the answers change
within the request (well inside issue 4's one second).
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from geodns.api.http import JSON, caller, read_object
from geodns.api.keys import CLOCK, DECIDER, PUBLISHER, RECORDER
from geodns.api.pools import publish, store_of
from geodns.errors import Problem, ValidationError
from geodns.health.damping import hold_end
from geodns.health.service import HealthService, ReportIn
from geodns.pools.fields import show
from geodns.store.repository import AddressState

REPORT_FIELDS = ("address", "status", "reason", "ttl")
DEFAULT_TTL_S = 60.0
TTL_S = (1.0, 86400.0)  # a report outlives its probe by at most a day
MAX_REPORTS = 1000
MAX_REASON = 500
UNKNOWN_ADDRESS = (
    "no pool has this address: the report is kept and counts once a pool does; until "
    "then it changes no answer (a typo, or a probe checking a pool's old members?)"
)


def service(request: web.Request) -> HealthService:
    # the configured policy (quorum, damping), the same as the built-in checker's
    return HealthService(store_of(request), request.app[CLOCK], request.app[DECIDER])


def parse_reports(body: JSON) -> list[ReportIn]:
    """{"reports": [...]} -> ReportIn values; ValidationError with every bad field."""
    problems: list[Problem] = []
    for key in body:
        if key != "reports":
            problems.append(Problem(key, "unknown field; expected: reports"))
    items = body.get("reports")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_REPORTS:
        problems.append(
            Problem("reports", f"must be a list of 1 to {MAX_REPORTS} reports, got {show(items)}")
        )
        raise ValidationError("reports", problems)
    reports = []
    for i, item in enumerate(items):
        report = _report(item, f"reports[{i}]", problems)
        if report is not None:
            reports.append(report)
    if problems:
        raise ValidationError("reports", problems)
    return reports


def _report(item: Any, where: str, problems: list[Problem]) -> ReportIn | None:
    if not isinstance(item, dict):
        problems.append(Problem(where, f"must be an object with fields, got {show(item)}"))
        return None
    before = len(problems)
    for key in item:
        if key not in REPORT_FIELDS:
            problems.append(
                Problem(
                    f"{where}.{key}", f"unknown field; expected one of: {', '.join(REPORT_FIELDS)}"
                )
            )
    address = None
    raw = item.get("address")
    try:
        address = ipaddress.ip_address(raw).compressed if isinstance(raw, str) else None
    except ValueError:
        pass
    if address is None:
        problems.append(
            Problem(f"{where}.address", f"not an IPv4 or IPv6 address, got {show(raw)}")
        )
    status = item.get("status")
    if status not in ("up", "down"):
        problems.append(Problem(f"{where}.status", f'must be "up" or "down", got {show(status)}'))
    reason = item.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        problems.append(
            Problem(f"{where}.reason", f"must be text of at most {MAX_REASON} characters")
        )
    ttl = item.get("ttl", DEFAULT_TTL_S)
    low, high = TTL_S
    if (
        not isinstance(ttl, int | float)
        or isinstance(ttl, bool)
        or not math.isfinite(ttl)
        or not low <= ttl <= high
    ):
        problems.append(
            Problem(f"{where}.ttl", f"must be seconds from {low:g} to {high:g}, got {show(ttl)}")
        )
    if len(problems) > before:
        return None
    assert address is not None and isinstance(reason, str)
    return ReportIn(address, status == "down", reason, float(ttl))


def _held_until(state: AddressState | None, now: datetime) -> str | None:
    """When flap damping lets the address up again if it stays stable (None: not held)."""
    ends = None if state is None else hold_end(state.history, now.timestamp())
    return None if ends is None else _time(datetime.fromtimestamp(ends, UTC))


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def post_reports(request: web.Request) -> web.Response:
    reports = parse_reports(await read_object(request))
    health = service(request)
    probe = caller(request).name
    changes = await health.accept_reports(probe, reports, health.now())
    recorder = request.app.get(RECORDER)
    if recorder is not None:  # these reports expire: redecide by then
        recorder.due_by(min((c.due for c in changes if c.due is not None), default=None))
    if any(change.changed for change in changes):
        await publish(request)
    pooled = {member.address for pool in request.app[PUBLISHER].pools for member in pool.members}
    addresses = []
    for c in changes:
        shown: JSON = {
            "address": c.address,
            "status": "down" if c.down else "up",
            "reason": c.reason,
            "transition": c.transition,
        }
        if c.address not in pooled:  # kept all the same: a pool may take it in later
            shown["unknown_address"] = True
            shown["message"] = UNKNOWN_ADDRESS
        addresses.append(shown)
    return web.json_response({"probe": probe, "accepted": len(reports), "addresses": addresses})


async def get_failed(request: web.Request) -> web.Response:
    health = service(request)
    failed = await health.failed(health.now())
    return web.json_response(
        {
            "failed": [
                {
                    "address": s.address,
                    "reason": s.reason,
                    "since": _time(s.since),
                    "probes": sorted(p for p, down in s.probes.items() if down),
                }
                for s in failed
            ]
        }
    )


async def get_address(request: web.Request) -> web.Response:
    raw = request.match_info["address"]
    try:
        address = ipaddress.ip_address(raw).compressed
    except ValueError:
        raise ValidationError(
            "address", [Problem("address", f"not an IPv4 or IPv6 address, got {show(raw)}")]
        ) from None
    health = service(request)
    view = await health.address(address, health.now())
    state = view.state
    return web.json_response(
        {
            "address": address,
            "status": "down" if state is not None and state.down else "up",
            "known": state is not None,
            "reason": state.reason if state is not None else "",
            "since": _time(state.since if state is not None else None),
            "held_until": _held_until(state, health.now()),
            "probes": [
                {
                    "probe": p.probe,
                    "status": "down" if p.down else "up",
                    "reason": p.reason,
                    "reported_at": _time(p.reported_at),
                    "ttl": p.ttl_s,
                    "live": p.live,
                }
                for p in view.probes
            ],
            "transitions": [
                {
                    "at": _time(t.at),
                    "status": "down" if t.down else "up",
                    "reason": t.reason,
                    "votes": {probe: "down" if down else "up" for probe, down in t.votes.items()},
                }
                for t in view.transitions
            ],
        }
    )
