"""/healthz, /readyz, /metrics, request ids and the 500 path, through the real app."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from api_client import Api, error_body, run_api, settings_for
from prometheus_client.parser import text_string_to_metric_families

from geodns.api.app import query_stats
from geodns.api.keys import SNAPSHOTS


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Any:
    return settings_for(database_url, tmp_path)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_healthz_and_readyz_answer_without_a_token(settings):
    async def body(api: Api) -> None:
        alive = await api.call("GET", "/healthz", token=None)
        assert (alive.status, alive.body) == (200, {"status": "ok"})
        ready = await api.call("GET", "/readyz", token=None)
        assert (ready.status, ready.body) == (
            200,
            {
                "ready": True,
                "status": "ready",
                "checks": {
                    "zones_loaded": True,
                    "snapshot_built": True,
                    "database_reachable": True,
                },
                "reasons": [],
                "zones_refused": [],
                "data_plane": "native",  # settings_for leaves data_plane auto: built, so native
            },
        )

    run_api(settings, body)


def test_metrics_count_queries_by_rcode_qtype_transport_and_pool_and_show_the_snapshot(settings):
    async def body(api: Api) -> None:
        await api.call(
            "POST",
            "/api/v1/pools",
            {"name": "lb.example.test", "members": [{"address": "192.0.2.11"}]},
        )
        for _ in range(3):
            await api.query("www.example.test.", "A")
        await api.query("nope.example.test.", "AAAA")
        await api.query("lb.example.test.", "A")
        await api.call(
            "POST",
            "/api/v1/health/reports",
            {"reports": [{"address": "192.0.2.11", "status": "down"}]},
            token="prober",
        )
        await api.call("GET", "/api/v1/nothing")
        scrape = await api.call("GET", "/metrics", token=None)
        assert scrape.status == 200
        assert scrape.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        found = samples(scrape.body)
        query = "geodns_queries_total"
        assert value(found, query, rcode="NOERROR", qtype="A", transport="udp", pool="") == 3
        assert value(found, query, rcode="NXDOMAIN", qtype="AAAA", transport="udp", pool="") == 1
        assert (
            value(
                found, query, rcode="NOERROR", qtype="A", transport="udp", pool="lb.example.test."
            )
            == 1
        )
        snapshot = api.app[SNAPSHOTS].current
        assert value(found, "geodns_snapshot_generation") == snapshot.generation
        assert value(found, "geodns_snapshot_store_generation") == snapshot.store_generation
        assert 0 <= (value(found, "geodns_snapshot_age_seconds") or -1) < 60
        assert value(found, "geodns_pools_served") == 1
        assert value(found, "geodns_addresses_down") == 1
        assert value(found, "geodns_health_transitions_total", to="down") == 1
        assert value(found, "geodns_health_transitions_total", to="up") == 0
        assert (
            value(
                found,
                "geodns_api_requests_total",
                route="/api/v1/pools",
                method="POST",
                status="201",
            )
            == 1
        )
        assert (
            value(found, "geodns_api_requests_total", route="unmatched", method="GET", status="404")
            == 1
        )
        assert (
            value(
                found, "geodns_api_request_duration_seconds_count", route="/api/v1/health/reports"
            )
            == 1
        )

    run_api(settings, body)


def test_metrics_show_the_answer_latency_histogram_the_dns_path_keeps(settings):
    async def body(api: Api) -> None:
        stats = query_stats(api.app)
        if not hasattr(stats, "latency_counts"):  # the QueryStats side (see the API report)
            stats.LATENCY_BUCKETS_S = (0.0001, 0.001)
            stats.latency_counts = [3, 1, 1]
            stats.latency_sum_s = 0.01
        bounds = stats.LATENCY_BUCKETS_S
        counts = list(stats.latency_counts)
        found = samples((await api.call("GET", "/metrics", token=None)).body)
        name = "geodns_answer_duration_seconds"
        assert value(found, f"{name}_bucket", le=repr(float(bounds[0]))) == counts[0]
        assert value(found, f"{name}_bucket", le="+Inf") == sum(counts)
        assert value(found, f"{name}_count") == sum(counts)
        assert value(found, f"{name}_sum") == pytest.approx(stats.latency_sum_s)

    run_api(settings, body)


def test_each_metrics_registry_belongs_to_its_app(settings):
    async def body(api: Api) -> None:
        await api.call("GET", "/healthz", token=None)
        found = samples((await api.call("GET", "/metrics", token=None)).body)
        return value(
            found, "geodns_api_requests_total", route="/healthz", method="GET", status="200"
        )

    assert run_api(settings, body) == 1
    assert run_api(settings, body) == 1  # a second app starts from zero


def test_request_ids_are_echoed_when_sane_and_made_up_otherwise(settings):
    async def body(api: Api) -> None:
        given = await api.call("GET", "/healthz", token=None, headers={"X-Request-Id": "abc-1"})
        assert given.headers["X-Request-Id"] == "abc-1"
        odd = await api.call("GET", "/healthz", token=None, headers={"X-Request-Id": "a b\tc"})
        again = await api.call("GET", "/healthz", token=None, headers={"X-Request-Id": "a b\tc"})
        assert len(odd.headers["X-Request-Id"]) == 32
        assert odd.headers["X-Request-Id"] != again.headers["X-Request-Id"]

    run_api(settings, body)


def test_a_bug_in_a_handler_is_a_500_naming_the_request_id_logged_with_its_traceback(
    settings, caplog
):
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("handler bug")

    def configure(app: web.Application) -> None:
        app.router.add_get("/api/v1/broken", broken)

    async def body(api: Api) -> None:
        reply = await api.call("GET", "/api/v1/broken", headers={"X-Request-Id": "req-42"})
        assert (reply.status, reply.body) == (
            500,
            error_body("internal error; the server log has the details", request_id="req-42"),
        )

    with caplog.at_level(logging.ERROR, logger="geodns.api.middlewares"):
        run_api(settings, body, configure)
    [record] = [r for r in caplog.records if r.name == "geodns.api.middlewares"]
    assert record.getMessage() == "api request failed request_id=req-42 GET /api/v1/broken"
    assert record.exc_info is not None and str(record.exc_info[1]) == "handler bug"
