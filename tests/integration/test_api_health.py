"""/api/v1/health through the real app and database, and the newest-report rule of
geodns.health.service with injected times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_client import Api, error_body, run_api, settings_for

from geodns.api.keys import STORE
from geodns.auth import issue_token
from geodns.health.decider import HealthDecider
from geodns.health.service import HealthService, ReportIn
from geodns.store.repository import Store

LB = "lb.example.test."
POOL = {"name": LB, "members": [{"address": "192.0.2.11"}, {"address": "192.0.2.12"}]}
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    settings = settings_for(database_url, tmp_path)
    return lambda body: run_api(settings, body)


def report(address: str, status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    return {"address": address, "status": status, "reason": reason, **extra}


async def post(api: Api, *reports: dict[str, Any], token: str = "prober") -> Any:
    reply = await api.call(
        "POST", "/api/v1/health/reports", {"reports": list(reports)}, token=token
    )
    assert reply.status == 200, reply
    return reply.body


def test_a_down_report_leaves_the_answers_within_one_second_and_an_up_report_returns_it(serve):
    async def body(api: Api) -> None:
        await api.call("POST", "/api/v1/pools", POOL)
        result = await post(api, report("192.0.2.11", "down", "http 503"))
        assert result == {
            "probe": "prober",
            "accepted": 1,
            "addresses": [
                {
                    "address": "192.0.2.11",
                    "status": "down",
                    "reason": "http 503 (prober)",
                    "transition": True,
                }
            ],
        }

        async def only_12() -> bool:
            return all([await api.addresses(LB) == {"192.0.2.12"} for _ in range(10)])

        assert await api.eventually(only_12, within_s=1.0) < 1.0
        await post(api, report("192.0.2.11", "up"))

        async def both() -> bool:
            seen: set[str] = set()
            for _ in range(40):
                seen |= await api.addresses(LB)
            return seen == {"192.0.2.11", "192.0.2.12"}

        await api.eventually(both, within_s=1.0)

    serve(body)


def test_failed_lists_down_addresses_with_reason_since_and_probes(serve):
    async def body(api: Api) -> None:
        await post(
            api,
            report("192.0.2.11", "down", "tcp refused"),
            report("2001:DB8::5", "down"),
            report("192.0.2.12", "up"),
        )
        failed = await api.call("GET", "/api/v1/health/failed", token="reader")
        assert failed.status == 200
        rows = failed.body["failed"]
        assert [(r["address"], r["reason"], r["probes"]) for r in rows] == [
            ("192.0.2.11", "tcp refused (prober)", ["prober"]),
            ("2001:db8::5", "reported down (prober)", ["prober"]),
        ]
        assert all(datetime.fromisoformat(r["since"]).tzinfo is not None for r in rows)

    serve(body)


def test_address_shows_state_probes_and_transitions_newest_first(serve):
    async def body(api: Api) -> None:
        other = await issue_token(api.app[STORE], "probe-eu1", "prober")
        await post(api, report("192.0.2.11", "down", "http 503", ttl=30))
        await post(api, report("192.0.2.11", "up", "http 200"), token=other)
        view = await api.call("GET", "/api/v1/health/addresses/192.0.2.11", token="reader")
        body_ = view.body
        assert (body_["address"], body_["status"], body_["known"], body_["reason"]) == (
            "192.0.2.11",
            "up",
            True,
            "",
        )
        assert [
            (p["probe"], p["status"], p["reason"], p["ttl"], p["live"]) for p in body_["probes"]
        ] == [
            ("probe-eu1", "up", "http 200", 60.0, True),
            ("prober", "down", "http 503", 30.0, True),
        ]
        assert [(t["status"], t["reason"], t["votes"]) for t in body_["transitions"]] == [
            ("up", "", {"probe-eu1": "up", "prober": "down"}),
            ("down", "http 503 (prober)", {"prober": "down"}),
        ]
        assert body_["since"] == body_["transitions"][0]["at"]

    serve(body)


def test_an_address_never_reported_is_up_and_unknown_and_a_bad_one_is_422(serve):
    async def body(api: Api) -> None:
        fresh = await api.call("GET", "/api/v1/health/addresses/192.0.2.200")
        assert fresh.body == {
            "address": "192.0.2.200",
            "status": "up",
            "known": False,
            "reason": "",
            "since": None,
            "held_until": None,
            "probes": [],
            "transitions": [],
        }
        bad = await api.call("GET", "/api/v1/health/addresses/nope")
        assert (bad.status, bad.body) == (
            422,
            error_body(
                "invalid address",
                [{"where": "address", "message": 'not an IPv4 or IPv6 address, got "nope"'}],
            ),
        )

    serve(body)


def test_every_bad_report_field_is_listed_in_one_422(serve):
    async def body(api: Api) -> None:
        reply = await api.call(
            "POST",
            "/api/v1/health/reports",
            {
                "reports": [
                    report("192.0.2.1", "up"),
                    {"address": "192.0.2.300", "status": "sideways", "ttl": 0, "colour": 1},
                    report("192.0.2.2", "down", reason="x" * 501, ttl=True),
                    "down",
                ]
            },
            token="prober",
        )
        assert (reply.status, reply.body) == (
            422,
            error_body(
                "invalid reports",
                [
                    {
                        "where": "reports[1].colour",
                        "message": "unknown field; expected one of: address, status, reason, ttl",
                    },
                    {
                        "where": "reports[1].address",
                        "message": 'not an IPv4 or IPv6 address, got "192.0.2.300"',
                    },
                    {
                        "where": "reports[1].status",
                        "message": 'must be "up" or "down", got "sideways"',
                    },
                    {
                        "where": "reports[1].ttl",
                        "message": "must be seconds from 1 to 86400, got 0",
                    },
                    {
                        "where": "reports[2].reason",
                        "message": "must be text of at most 500 characters",
                    },
                    {
                        "where": "reports[2].ttl",
                        "message": "must be seconds from 1 to 86400, got true",
                    },
                    {"where": "reports[3]", "message": 'must be an object with fields, got "down"'},
                ],
            ),
        )
        empty = await api.call("POST", "/api/v1/health/reports", {"reports": []}, token="prober")
        assert empty.body["problems"] == [
            {"where": "reports", "message": "must be a list of 1 to 1000 reports, got []"}
        ]
        # nothing of a refused batch is stored
        failed = await api.call("GET", "/api/v1/health/failed")
        assert failed.body == {"failed": []}

    serve(body)


def test_a_down_report_that_expires_lets_the_next_report_decide(database_url: str) -> None:
    async def body() -> None:
        store = await Store.open(database_url)
        try:
            service = HealthService(store, lambda: T0, HealthDecider())
            [down] = await service.accept_reports("a", [ReportIn("192.0.2.1", True, "x", 10)], T0)
            assert (down.down, down.transition, down.changed) == (True, True, True)
            later = T0 + timedelta(seconds=11)
            [up] = await service.accept_reports("b", [ReportIn("192.0.2.9", False, "", 60)], later)
            assert up.address == "192.0.2.9" and not up.transition
            assert [s.address for s in await service.failed(later)] == ["192.0.2.1"]
            [again] = await service.accept_reports(
                "b", [ReportIn("192.0.2.1", False, "", 60)], later
            )
            assert (again.down, again.transition) == (False, True)
            view = await service.address("192.0.2.1", later)
            assert [(p.probe, p.live) for p in view.probes] == [("a", False), ("b", True)]
            assert await service.failed(later) == []
        finally:
            await store.close()

    asyncio.run(body())
