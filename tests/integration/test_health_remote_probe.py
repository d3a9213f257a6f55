"""`geodns probe` (remote_probe) against real backends and a test double of the REST API.

FakeApi is a test double of the API for the client side only: a small real aiohttp
server that serves pool documents and records the posted reports, standing in for
GET /api/v1/pools/{name} and POST /api/v1/health/reports until the real routes exist
(issue 4). The backends probed are real loopback servers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from integration.health_backends import HttpBackend, TcpBackend
from polling import until

from geodns.health.remote_probe import (
    ProbeError,
    TokenRefused,
    probe_options,
    run_remote_probe,
)
from geodns.pools.model import Member, Pool, to_document

TOKEN = "prober-secret"


@dataclass
class FakeApi:
    """Serves pools by name and records every POSTed report batch (with its token)."""

    pools: dict[str, Pool] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeApi:
        app = web.Application()
        app.router.add_get("/api/v1/pools/{name}", self._pool)
        app.router.add_post("/api/v1/health/reports", self._reports)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        self.tokens.append(request.headers.get("Authorization", ""))
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def _pool(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        name = request.match_info["name"].rstrip(".") + "."
        if name not in self.pools:
            return web.json_response({"error": f"no pool {name}"}, status=404)
        return web.json_response(to_document(self.pools[name]))

    async def _reports(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        self.posted.append(await request.json())
        return web.json_response({"accepted": len(self.posted[-1]["reports"])})

    def latest(self, address: str) -> dict[str, Any] | None:
        for batch in reversed(self.posted):
            for report in batch["reports"]:
                if report["address"] == address:
                    return dict(report)
        return None


def www(*addresses: str, name: str = "www.example.com.") -> Pool:
    return Pool(name, tuple(Member(a) for a in addresses))


def test_once_checks_every_member_and_posts_one_batch_with_the_token() -> None:
    async def body() -> None:
        up = await HttpBackend("127.0.0.2").start()
        failing = await HttpBackend("127.0.0.3", status=503, port=up.port).start()
        api = await FakeApi(
            {"www.example.com.": www("127.0.0.2", "127.0.0.3", "127.0.0.4")}
        ).start()
        options = probe_options(
            api.url,
            TOKEN,
            ["www.example.com"],
            f"http://{{address}}:{up.port}/health",
            timeout_s=1.0,
            once=True,
        )
        try:
            returned = await run_remote_probe(options)
        finally:
            for server in (up, failing, api):
                await server.stop()
        ttl = 3 * 10.0 + 1.0
        assert api.posted == [
            {
                "reports": [
                    {"address": "127.0.0.2", "status": "up", "reason": "http ok", "ttl": ttl},
                    {"address": "127.0.0.3", "status": "down", "reason": "http 503", "ttl": ttl},
                    {
                        "address": "127.0.0.4",
                        "status": "down",
                        "reason": "connect refused",
                        "ttl": ttl,
                    },
                ]
            }
        ]
        assert returned == api.posted[0]["reports"]
        assert set(api.tokens) == {f"Bearer {TOKEN}"}
        assert up.requests[0]["path"] == "/health"

    asyncio.run(body())


def test_the_probe_loop_follows_backends_and_pool_membership() -> None:
    async def body() -> None:
        a = await TcpBackend("127.0.0.5").start()
        b = await TcpBackend("127.0.0.6", port=a.port).start()
        api = await FakeApi(
            {
                "www.example.com.": www("127.0.0.5", "127.0.0.6"),
                "api.example.com.": www("127.0.0.5", name="api.example.com."),
            }
        ).start()
        options = probe_options(
            api.url,
            TOKEN,
            ["www.example.com", "api.example.com"],
            f"tcp://{{address}}:{a.port}",
            interval_s=0.05,
            timeout_s=0.5,
            rise=1,
            fall=2,
            ttl_s=5,
        )
        task = asyncio.create_task(run_remote_probe(options))
        try:
            await until(lambda: len(api.posted) >= 2)
            # two pools share 127.0.0.5: one check and one report per round
            assert all(len(batch["reports"]) == 2 for batch in api.posted)
            rounds = len(api.posted)  # the next round may have probed, not yet posted
            assert rounds <= a.accepted <= rounds + 1
            await b.stop()
            await until(lambda: (api.latest("127.0.0.6") or {}).get("status") == "down")
            assert api.latest("127.0.0.6") == {
                "address": "127.0.0.6",
                "status": "down",
                "reason": "connect refused",
                "ttl": 5,
            }
            await b.start()
            await until(lambda: (api.latest("127.0.0.6") or {}).get("status") == "up")
            api.pools["www.example.com."] = www("127.0.0.5")  # 127.0.0.6 left the pool
            rounds = len(api.posted)
            await until(lambda: len(api.posted) >= rounds + 3)
            assert [r["address"] for r in api.posted[-1]["reports"]] == ["127.0.0.5"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for server in (a, b, api):
                await server.stop()

    asyncio.run(body())


@pytest.mark.parametrize("once", [True, False], ids=["once", "loop"])
def test_a_refused_token_stops_the_probe(once: bool) -> None:
    async def body() -> None:
        api = await FakeApi({"www.example.com.": www("127.0.0.7")}).start()
        options = probe_options(
            api.url, "wrong", ["www.example.com"], "tcp://{address}:9", interval_s=0.05, once=once
        )
        try:
            with pytest.raises(TokenRefused, match="401.*refused the token"):
                await asyncio.wait_for(run_remote_probe(options), 5)
        finally:
            await api.stop()

    asyncio.run(body())


def test_once_fails_on_a_missing_pool_and_the_loop_carries_on_without_it() -> None:
    async def body() -> None:
        backend = await TcpBackend("127.0.0.8").start()
        api = await FakeApi({"www.example.com.": www("127.0.0.8")}).start()
        template = f"tcp://{{address}}:{backend.port}"
        pools = ["nope.example.com", "www.example.com"]
        try:
            with pytest.raises(ProbeError, match="no pool nope.example.com"):
                await run_remote_probe(probe_options(api.url, TOKEN, pools, template, once=True))
            assert api.posted == []
            looping = probe_options(api.url, TOKEN, pools, template, interval_s=0.05)
            task = asyncio.create_task(run_remote_probe(looping))
            try:
                await until(lambda: len(api.posted) >= 2)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            assert api.posted[0]["reports"][0]["address"] == "127.0.0.8"
        finally:
            await backend.stop()
            await api.stop()

    asyncio.run(body())


def test_once_fails_when_the_api_is_unreachable() -> None:
    async def body() -> None:
        api = await FakeApi().start()
        url = api.url
        await api.stop()
        options = probe_options(url, TOKEN, ["www.example.com"], "tcp://{address}:9", once=True)
        with pytest.raises(ProbeError, match="probe round failed"):
            await run_remote_probe(options)

    asyncio.run(body())
