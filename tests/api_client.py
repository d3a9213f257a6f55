"""The REST API for tests: the real app (geodns.app.make_app) on loopback, a client, tokens.

run_api(settings, body) starts what `geodns serve` starts (store, watcher, DNS listeners,
API on 127.0.0.1:0) inside one event loop, issues a token per role, runs body(api) and
stops everything. pytest-asyncio is not used: each test is one asyncio.run.
"""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import dns.asyncquery
import dns.edns
import dns.message
from aiohttp import web
from harness import MAXMIND, SERVE_ZONES
from polling import until_async

from geodns.api.connections import ApiConnections, ApiLimits, LimitedSite
from geodns.api.keys import LISTENERS, METRICS, STORE
from geodns.app import make_app
from geodns.auth import issue_token
from geodns.settings import Settings

T = TypeVar("T")
REQUEST_ID = "test-request"  # what Api.call sends as X-Request-Id unless told otherwise
ROLES = ("admin", "editor", "prober", "reader")
BIND_ATTEMPTS = 5
GEO_DB = MAXMIND / "GeoIP2-City-Test.mmdb"
DNSSEC_KEY_SECRET = "test-secret-" + "k" * 32  # every test node shares it, as a cluster does


@dataclass
class Reply:
    status: int
    headers: Any  # CIMultiDictProxy
    body: Any  # parsed JSON, or text when the reply is not JSON

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


@dataclass
class Api:
    base: str
    session: aiohttp.ClientSession
    app: web.Application  # its resources under geodns.api.keys
    tokens: dict[str, str]  # role (and token name) -> bearer token
    dns: tuple[str, int]

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "admin",
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """One request; token is a role name (or a raw token), None for no Authorization."""
        sent = {"X-Request-Id": REQUEST_ID, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        if body is not None:
            data = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.base + path, data=data, headers=sent
        ) as response:
            text = await response.text()
            try:
                parsed = json.loads(text) if response.content_type == "application/json" else text
            except ValueError:
                parsed = text
            return Reply(response.status, response.headers, parsed)

    async def query(
        self, name: str, rdtype: str = "A", ecs: str | None = None
    ) -> dns.message.Message:
        options = [dns.edns.ECSOption.from_text(ecs)] if ecs else None
        message = dns.message.make_query(name, rdtype, use_edns=0 if ecs else None, options=options)
        return await dns.asyncquery.udp(message, self.dns[0], port=self.dns[1], timeout=2)

    async def addresses(self, name: str, rdtype: str = "A", ecs: str | None = None) -> set[str]:
        reply = await self.query(name, rdtype, ecs)
        return {item.to_text() for rrset in reply.answer for item in rrset}

    async def eventually(
        self, check: Callable[[], Awaitable[bool]], within_s: float = 1.0
    ) -> float:
        """Poll check until true; the seconds it took, AssertionError after within_s."""
        return await until_async(check, within_s, poll_s=0.01)


def error_body(
    message: str, problems: list[dict[str, str]] | None = None, request_id: str = REQUEST_ID
) -> dict[str, Any]:
    """The API's one error body (geodns.api.http.error_body), as a test expects it."""
    return {"error": message, "problems": problems or [], "request_id": request_id}


def settings_for(database_url: str, workdir: Path, *, geo: bool = False) -> Settings:
    zones = workdir / "zones"
    if not zones.exists():
        shutil.copytree(SERVE_ZONES, zones)
    return Settings(
        dns=(("127.0.0.1", 0),),
        zones=zones,
        api=None,
        database_url=database_url,
        geoip_db=str(GEO_DB) if geo else None,
        geoip_bundled=False,
        poll_interval_s=0.05,
        dnssec_key_secret=DNSSEC_KEY_SECRET,
    )


async def serve_api(
    settings: Settings,
    body: Callable[[Api], Awaitable[T]],
    configure: Callable[[web.Application], None] | None = None,
) -> T:
    for attempt in range(BIND_ATTEMPTS):
        app = make_app(settings)
        if configure is not None:
            configure(app)
        runner = web.AppRunner(app, access_log=None)
        try:
            await runner.setup()
            break
        except OSError as exc:
            # DNS port 0 picks a free UDP port, then binds TCP to the same number, which
            # another process may hold: pick again (geodns.answer.server does not retry)
            await runner.cleanup()
            if exc.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS - 1:
                raise
    try:
        # the site `geodns serve` runs: its connection limits see every API test
        limits = ApiLimits(settings.api_header_timeout_s, settings.api_max_connections)
        connections = ApiConnections(limits, app[METRICS].api_limited)
        site = LimitedSite(runner, "127.0.0.1", 0, connections)
        await site.start()
        host, port = runner.addresses[0][:2]
        store = app[STORE]
        tokens = {}
        for role in ROLES:  # one token per role, named after it (a database reused: anew)
            if role in {t.name for t in await store.list_tokens()}:
                await store.revoke_token(role)
            tokens[role] = await issue_token(store, role, role)
        async with aiohttp.ClientSession() as session:
            api = Api(f"http://{host}:{port}", session, app, tokens, app[LISTENERS].endpoints[0])
            return await body(api)
    finally:
        await runner.cleanup()


def run_api(
    settings: Settings,
    body: Callable[[Api], Coroutine[Any, Any, T]],
    configure: Callable[[web.Application], None] | None = None,
) -> T:
    return asyncio.run(serve_api(settings, body, configure))
