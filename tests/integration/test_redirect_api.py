"""The redirector inside the real app: pools and health changed through the API reach its
302s before the API answers; explain says what it answers; /metrics counts it."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from api_client import Api, run_api, settings_for

from geodns.api.keys import REDIRECTOR

POOL = "www.example.test."
DOC = {
    "name": POOL,
    "members": [
        {"address": "192.0.2.11", "region": "eu", "url": "https://eu1.example.test"},
        {"address": "192.0.2.12", "region": "us", "url": "https://us1.example.test/mirror/"},
    ],
    "rules": [{"match": {"country": "GB"}, "regions": ["eu", "us"]}],
    "default_regions": ["us", "eu"],
}
CREATE = {**DOC, "replace_static": True}  # www has static addresses in the zone file
GB = "81.2.69.142"  # GB in MaxMind's test data


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Any:
    settings = replace(
        settings_for(database_url, tmp_path, geo=True),
        http=("127.0.0.1", 0),
        http_trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    apps: list[web.Application] = []
    return lambda body: run_api(settings, lambda api: body(api, apps[0]), apps.append)


async def location(app: web.Application, client: str | None = None) -> tuple[int, str | None]:
    host, port = app[REDIRECTOR].endpoints[0]
    headers = {"Host": "WWW.example.test"}
    if client is not None:
        headers["X-Forwarded-For"] = client
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"http://{host}:{port}/dl/f.iso?v=1", headers=headers, allow_redirects=False
        ) as response:
            return response.status, response.headers.get("Location")


def test_api_changes_reach_the_redirects_before_the_api_answers(serve):
    async def body(api: Api, app: web.Application) -> None:
        assert (await location(app))[0] == 404  # no such pool yet
        assert (await api.call("POST", "/api/v1/pools", CREATE, token="editor")).status == 201
        assert await location(app) == (302, "https://us1.example.test/mirror/dl/f.iso?v=1")
        assert await location(app, GB) == (302, "https://eu1.example.test/dl/f.iso?v=1")
        report = {"reports": [{"address": "192.0.2.11", "status": "down", "reason": "http 503"}]}
        assert (
            await api.call("POST", "/api/v1/health/reports", report, token="prober")
        ).status == 200
        assert await location(app, GB) == (302, "https://us1.example.test/mirror/dl/f.iso?v=1")
        drain = await api.call(
            "PATCH", f"/api/v1/pools/{POOL}/members/192.0.2.12", {"weight": 0}, token="editor"
        )
        assert drain.status == 200
        # us drained, eu down: fail-open answers from the first region with eligible members
        assert await location(app, GB) == (302, "https://eu1.example.test/dl/f.iso?v=1")
        closed = await api.call("PATCH", f"/api/v1/pools/{POOL}", {"fail_open": False})
        assert closed.status == 200
        assert await location(app, GB) == (503, None)

        metrics = await api.call("GET", "/metrics", token=None)
        text = metrics.body
        assert (
            f'geodns_redirects_total{{member="192.0.2.11",pool="{POOL}",status="302"}} 2.0' in text
        )
        assert (
            f'geodns_redirects_total{{member="192.0.2.12",pool="{POOL}",status="302"}} 2.0' in text
        )
        assert f'geodns_redirects_total{{member="",pool="{POOL}",status="503"}} 1.0' in text
        assert 'geodns_redirects_total{member="",pool="",status="404"} 1.0' in text

    serve(body)


def test_explain_with_a_path_says_what_the_redirector_answers(serve):
    async def body(api: Api, app: web.Application) -> None:
        await api.call("POST", "/api/v1/pools", CREATE)
        got = await api.call(
            "GET", f"/api/v1/explain?name={POOL}&client={GB}&path=/dl/f.iso?v=1", token="reader"
        )
        assert got.status == 200, got
        redirect = got.body["redirect"]
        assert {
            k: redirect[k] for k in ("status", "location", "address", "alternates", "reason")
        } == {
            "status": 302,
            "location": "https://eu1.example.test/dl/f.iso?v=1",
            "address": "192.0.2.11",
            "alternates": [],
            "reason": None,
        }
        assert (await location(app, GB))[1] == redirect["location"]
        assert redirect["explanation"]["rule"] == {
            "kind": "country",
            "value": "GB",
            "regions": ["eu", "us"],
        }
        encoded = await api.call(
            "GET",
            f"/api/v1/explain?name={POOL}&client={GB}&path=%2Fdl%2Ff.iso%3Fv%3D1",
            token="reader",
        )
        assert encoded.body["redirect"]["location"] == "https://eu1.example.test/dl/f.iso?v=1"
        bad = await api.call(
            "GET", f"/api/v1/explain?name={POOL}&ecs=81.2.69.0/24&path=dl", token="reader"
        )
        assert bad.status == 422
        assert [p["where"] for p in bad.body["problems"]] == ["path", "client"]

    serve(body)
