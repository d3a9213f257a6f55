"""`geodns probe`: check the members of pools from anywhere and report through the REST API.

Control plane: HTTP client of the API (GET /api/v1/pools/{name}, POST
/api/v1/health/reports) and of the backends (probes.py). The API names the probe after
the token; rise/fall apply as in the built-in checker (the first result decides).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import aiohttp

from geodns.errors import ConfigError, GeodnsError
from geodns.health.checker import report_ttl_s
from geodns.health.probes import USER_AGENT, run_check
from geodns.health.scheduler import Probe
from geodns.health.state import CheckState, Status
from geodns.pools.model import Check, CheckType

log = logging.getLogger(__name__)

_TEMPLATE = re.compile(
    r"^(?P<scheme>tcp|http|https)://\{address\}(?::(?P<port>\d{1,5}))?(?P<path>/[^\s#]*)?$"
)
TEMPLATE_HELP = "http://{address}:80/health, https://{address}/health or tcp://{address}:443"


class ProbeError(GeodnsError):
    """A probe round could not finish: a pool unreadable, the reports not delivered."""


class TokenRefused(ProbeError):
    """The API answered 401 or 403: no later round can do better."""


def parse_check_template(template: str) -> Check:
    """--check text -> Check (scheme, port, path); ConfigError naming the accepted forms."""
    match = _TEMPLATE.match(template.strip())
    if match is None:
        raise ConfigError(f"--check {template!r}: expected a URL like {TEMPLATE_HELP}")
    kind = CheckType(match["scheme"])
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"--check {template!r}: port {port} is not in 1..65535")
    if kind is CheckType.TCP:
        if port is None:
            raise ConfigError(f"--check {template!r}: tcp needs a port (tcp://{{address}}:443)")
        if match["path"] not in (None, "/"):
            raise ConfigError(f"--check {template!r}: a tcp check has no path")
        return Check(CheckType.TCP, port=port)
    return Check(kind, port=port, path=match["path"] or "/")


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """What `geodns probe` was asked to do. check carries interval, timeout, rise, fall."""

    api: str  # http://127.0.0.1:8053
    token: str
    pools: tuple[str, ...]
    check: Check
    ttl_s: float | None = None  # None: report_ttl_s(check), three intervals and a timeout
    once: bool = False  # one round: the first result decides each address
    max_concurrency: int = 64

    def __repr__(self) -> str:  # the token never reaches logs
        return (
            f"ProbeOptions(api={self.api!r}, pools={self.pools!r}, check={self.check!r}, "
            f"ttl_s={self.ttl_s!r}, once={self.once!r})"
        )


def probe_options(
    api: str,
    token: str,
    pools: Sequence[str],
    check: str,
    *,
    interval_s: float = 10.0,
    timeout_s: float = 2.0,
    rise: int = 2,
    fall: int = 3,
    ttl_s: float | None = None,
    once: bool = False,
    **check_fields: Any,
) -> ProbeOptions:
    """ProbeOptions from the command line's values; ConfigError for each bad one."""
    if not pools:
        raise ConfigError("geodns probe needs at least one --pool")
    if interval_s <= 0 or timeout_s <= 0 or rise < 1 or fall < 1:
        raise ConfigError("--interval and --timeout must be positive, --rise and --fall >= 1")
    if ttl_s is not None and ttl_s <= 0:
        raise ConfigError("--ttl must be positive")
    parsed = replace(
        parse_check_template(check),
        interval_s=interval_s,
        timeout_s=timeout_s,
        rise=rise,
        fall=fall,
        **check_fields,
    )
    return ProbeOptions(api.rstrip("/"), token, tuple(pools), parsed, ttl_s, once)


async def run_remote_probe(
    options: ProbeOptions,
    *,
    probe: Probe = run_check,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Check and report every interval until cancelled; with once, one round.

    Returns the last round's reports. TokenRefused when the API refuses the token (401,
    403); with once, ProbeError when a pool cannot be read or the reports cannot be
    delivered; without once such a failure is logged and the next round tries again.
    """
    headers = {"Authorization": f"Bearer {options.token}", "User-Agent": USER_AGENT}
    timeout = aiohttp.ClientTimeout(total=max(10.0, options.check.timeout_s * 2))
    states: dict[str, CheckState] = {}
    reports: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        next_at = clock()
        while True:
            try:
                reports = await probe_round(session, options, states, probe, clock)
            except TokenRefused:
                raise
            except ProbeError as exc:
                if options.once:
                    raise
                log.warning("probe round failed, retrying next round error=%s", exc)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                if options.once:
                    raise ProbeError(f"probe round failed: {exc!r}") from exc
                log.warning("probe round failed, retrying next round error=%r", exc)
            if options.once:
                return reports
            interval = options.check.interval_s
            next_at += interval * max(1, math.ceil((clock() - next_at) / interval))
            await asyncio.sleep(max(0.0, next_at - clock()))


async def probe_round(
    session: aiohttp.ClientSession,
    options: ProbeOptions,
    states: dict[str, CheckState],
    probe: Probe = run_check,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Read the pools, check each distinct member address once, post the reports."""
    addresses: dict[str, None] = {}
    for name in options.pools:
        for address in await fetch_pool_addresses(session, options.api, name, strict=options.once):
            addresses.setdefault(address, None)
    for gone in set(states) - addresses.keys():
        del states[gone]  # a member removed from its pool is no longer checked
    limit = asyncio.Semaphore(options.max_concurrency)
    check = options.check

    async def one(address: str) -> None:
        async with limit:
            result = await probe(address, check)
        state = states.setdefault(address, CheckState(check.rise, check.fall))
        if state.observe(result, clock()):
            log.info(
                "probe changed address=%s status=%s reason=%s",
                address,
                state.status.value,
                state.reason,
            )

    await asyncio.gather(*(one(address) for address in addresses))
    ttl = options.ttl_s if options.ttl_s is not None else report_ttl_s(check)
    reports = [
        {
            "address": address,
            "status": state.status.value,
            "reason": state.reason,
            "ttl": ttl,
        }
        for address in addresses
        if (state := states[address]).status is not Status.UNKNOWN
    ]
    if reports:
        await send_reports(session, options.api, reports)
    return reports


async def fetch_pool_addresses(
    session: aiohttp.ClientSession, api: str, name: str, *, strict: bool = False
) -> list[str]:
    """Every member address of pool name (disabled and drained ones too: issue 5 §6).

    A missing pool is logged and yields nothing (ProbeError when strict).
    """
    url = f"{api}/api/v1/pools/{quote(name, safe='')}"
    async with session.get(url) as response:
        _refuse_auth(response, url)
        if response.status == 404:
            if strict:
                raise ProbeError(f"GET {url}: no pool {name}")
            log.warning("pool not found, not probed pool=%s", name)
            return []
        if response.status != 200:
            raise ProbeError(f"GET {url}: http {response.status}: {await _excerpt(response)}")
        document = await response.json()
    members = document.get("members") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise ProbeError(f"GET {url}: not a pool document (no members list)")
    return [str(m["address"]) for m in members if isinstance(m, dict) and "address" in m]


async def send_reports(
    session: aiohttp.ClientSession, api: str, reports: list[dict[str, Any]]
) -> None:
    url = f"{api}/api/v1/health/reports"
    async with session.post(url, json={"reports": reports}) as response:
        _refuse_auth(response, url)
        if not 200 <= response.status < 300:
            raise ProbeError(f"POST {url}: http {response.status}: {await _excerpt(response)}")


def _refuse_auth(response: aiohttp.ClientResponse, url: str) -> None:
    if response.status in (401, 403):
        raise TokenRefused(
            f"{response.method} {url}: http {response.status}: the API refused the token "
            "(a prober token is needed: geodns token create --role prober --name NAME)"
        )


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    return (await response.text(errors="replace"))[:200]
