"""A health report for an address that is in no pool (issue 12 §6): accepted and kept,
as before, but flagged in the response, so a probe with a typo or an old member list
hears about it instead of reporting into the void."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_client import Api, run_api, settings_for

from geodns.api.health import UNKNOWN_ADDRESS

POOL = {"name": "lb.example.test.", "members": [{"address": "192.0.2.11"}]}


def test_a_report_for_an_address_in_no_pool_is_kept_and_flagged(
    database_url: str, tmp_path: Path
) -> None:
    async def body(api: Api) -> None:
        assert (await api.call("POST", "/api/v1/pools", POOL)).status == 201
        reports = [
            {"address": "192.0.2.11", "status": "down", "reason": "http 503"},
            {"address": "2001:DB8::77", "status": "down", "reason": "timeout"},
        ]
        reply = await api.call(
            "POST", "/api/v1/health/reports", {"reports": reports}, token="prober"
        )
        assert reply.status == 200
        assert reply.body["accepted"] == 2
        known, unknown = reply.body["addresses"]
        assert "unknown_address" not in known and "message" not in known
        assert unknown == {
            "address": "2001:db8::77",
            "status": "down",
            "reason": "timeout (prober)",
            "transition": True,
            "unknown_address": True,
            "message": UNKNOWN_ADDRESS,
        }
        state: Any = await api.call("GET", "/api/v1/health/addresses/2001:db8::77")
        assert [p["probe"] for p in state.body["probes"]] == ["prober"]  # kept
        # once a pool has the address, the same report is no longer flagged
        pool = {"name": "v6.example.test.", "members": [{"address": "2001:db8::77"}]}
        assert (await api.call("POST", "/api/v1/pools", pool)).status == 201
        again = await api.call(
            "POST", "/api/v1/health/reports", {"reports": reports[1:]}, token="prober"
        )
        assert "unknown_address" not in again.body["addresses"][0]

    run_api(settings_for(database_url, tmp_path), body)
