"""probe_tcp and probe_http against real loopback backends: every outcome and its reason."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from integration.health_backends import (
    HttpBackend,
    TcpBackend,
    self_signed,
    server_context,
)

from geodns import __version__
from geodns.health.probes import probe_http, probe_tcp, run_check
from geodns.health.state import Result
from geodns.pools.model import Check, CheckType

HTTP = Check(CheckType.HTTP, path="/health", timeout_s=1.0)


def free_port(host: str) -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def against(backend: HttpBackend, check: Check, **kwargs: Any) -> Result:
    await backend.start()
    try:
        return await probe_http(backend.host, replace(check, port=backend.port), **kwargs)
    finally:
        await backend.stop()


def test_tcp_accepting_listener_is_up_and_a_closed_one_refuses() -> None:
    async def body() -> None:
        backend = await TcpBackend("127.0.0.2").start()
        up = await probe_tcp("127.0.0.2", backend.port, 1.0)
        assert (up.ok, up.reason) == (True, "connect ok")
        assert 0 <= up.latency_s < 1.0
        await backend.stop()
        down = await probe_tcp("127.0.0.2", backend.port, 1.0)
        assert (down.ok, down.reason) == (False, "connect refused")
        await backend.start()  # restarted on the same port: up again
        assert (await probe_tcp("127.0.0.2", backend.port, 1.0)).ok is True
        await backend.stop()
        assert backend.accepted == 2

    asyncio.run(body())


@pytest.mark.parametrize(
    ("backend", "check", "ok", "reason"),
    [
        (dict(status=200), HTTP, True, "http ok"),
        (dict(status=503), HTTP, False, "http 503"),
        (dict(status=301), HTTP, True, "http ok"),
        (dict(status=301), replace(HTTP, expect_status=(200, 299)), False, "http 301"),
        (dict(status=299), replace(HTTP, expect_status=(200, 299)), True, "http ok"),
        (dict(body=b"status: ok"), replace(HTTP, body_contains="ok"), True, "http ok"),
        (dict(body=b"degraded"), replace(HTTP, body_contains="ok"), False, "body lacks 'ok'"),
        (
            dict(body=b"x" * 70000 + b"ok"),
            replace(HTTP, body_contains="ok"),
            False,
            "body lacks 'ok'",
        ),
        (dict(delay_s=2.0), replace(HTTP, timeout_s=0.2), False, "timeout after 0.2s"),
    ],
    ids=[
        "200",
        "503",
        "redirect-in-default-range",
        "301-out-of-range",
        "range-inclusive",
        "body-has",
        "body-lacks",
        "body-past-64k",
        "slow",
    ],
)
def test_http_outcomes(backend: dict[str, Any], check: Check, ok: bool, reason: str) -> None:
    result = asyncio.run(against(HttpBackend("127.0.0.3", **backend), check))
    assert (result.ok, result.reason) == (ok, reason)


def test_http_connection_refused() -> None:
    port = free_port("127.0.0.3")
    result = asyncio.run(probe_http("127.0.0.3", replace(HTTP, port=port)))
    assert (result.ok, result.reason) == (False, "connect refused")


def test_http_sends_the_path_host_and_geodns_user_agent() -> None:
    backend = HttpBackend("127.0.0.4")
    check = replace(HTTP, path="/health?deep=1", host="www.example.com")
    assert asyncio.run(against(backend, check)).ok
    [request] = backend.requests
    assert request["path"] == "/health?deep=1"
    assert request["Host"] == "www.example.com"
    assert request["User-Agent"] == f"geodns/{__version__} (health check)"


def test_http_host_defaults_to_the_address() -> None:
    backend = HttpBackend("127.0.0.4")
    assert asyncio.run(against(backend, HTTP)).ok
    assert backend.requests[0]["Host"] == f"127.0.0.4:{backend.port}"


def test_http_to_an_ipv6_address_brackets_it_in_the_url() -> None:
    backend = HttpBackend("::1")
    result = asyncio.run(against(backend, HTTP))
    assert result.ok, result.reason
    assert backend.requests[0]["Host"] == f"[::1]:{backend.port}"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return self_signed(tmp_path_factory.mktemp("tls"), "backend.test", "127.0.0.5")


HTTPS = Check(CheckType.HTTPS, path="/health", timeout_s=2.0)


@pytest.mark.parametrize(
    "check",
    [HTTPS, replace(HTTPS, host="backend.test")],
    ids=["by-address", "by-host-name"],
)
def test_https_self_signed_fails_verification_by_default(certificate: Path, check: Check) -> None:
    backend = HttpBackend("127.0.0.5", ssl_context=server_context(certificate))
    result = asyncio.run(against(backend, check))
    assert result.ok is False
    assert result.reason.startswith("tls: certificate verify failed"), result.reason
    assert backend.requests == []


def test_https_self_signed_passes_with_tls_verify_off(certificate: Path) -> None:
    backend = HttpBackend("127.0.0.5", ssl_context=server_context(certificate))
    result = asyncio.run(against(backend, replace(HTTPS, tls_verify=False, host="backend.test")))
    assert (result.ok, result.reason) == (True, "http ok")
    assert backend.requests[0]["Host"] == "backend.test"


def test_https_to_a_plain_http_backend_is_a_tls_failure() -> None:
    backend = HttpBackend("127.0.0.6")
    result = asyncio.run(against(backend, replace(HTTPS, tls_verify=False)))
    assert result.ok is False
    assert result.reason.startswith("tls: "), result.reason


def test_run_check_dispatches_on_the_check_type() -> None:
    async def body() -> tuple[Result, Result]:
        tcp = await TcpBackend("127.0.0.7").start()
        http = await HttpBackend("127.0.0.7").start()
        try:
            return (
                await run_check("127.0.0.7", Check(CheckType.TCP, port=tcp.port, timeout_s=1.0)),
                await run_check("127.0.0.7", replace(HTTP, port=http.port)),
            )
        finally:
            await tcp.stop()
            await http.stop()

    tcp_result, http_result = asyncio.run(body())
    assert (tcp_result.reason, http_result.reason) == ("connect ok", "http ok")
