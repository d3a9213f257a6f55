"""Active checks over the network: TCP connect, HTTP(S) GET; each returns a Result.

I/O: opens sockets. Never raises for a failed check: the failure is the Result, with a
short specific reason ("connect refused", "timeout after 2.0s", "http 503"). Timing and
retries belong to scheduler.py, decisions to state.py.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time

import aiohttp

from geodns import __version__
from geodns.health.state import Result
from geodns.pools.model import Check, CheckType

USER_AGENT = f"geodns/{__version__} (health check)"
BODY_LIMIT = 64 * 1024  # bytes of body searched for body_contains

_UNVERIFIED = ssl.create_default_context()
_UNVERIFIED.check_hostname = False
_UNVERIFIED.verify_mode = ssl.CERT_NONE


async def run_check(address: str, check: Check) -> Result:
    """The check's probe against address, with the check's port and timeout."""
    if check.type is CheckType.TCP:
        return await probe_tcp(address, check.effective_port, check.timeout_s)
    return await probe_http(address, check, check.timeout_s)


async def probe_tcp(address: str, port: int, timeout_s: float) -> Result:
    """Connect, then close: ok when the connection is accepted within timeout_s."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return Result(False, time.perf_counter() - started, _timeout(timeout_s))
    except OSError as exc:
        return Result(False, time.perf_counter() - started, _os_reason(exc))
    latency = time.perf_counter() - started
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # a reset while closing does not undo the accepted connection
    return Result(True, latency, "connect ok")


async def probe_http(
    address: str,
    check: Check,
    timeout_s: float | None = None,
    *,
    scheme: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> Result:
    """GET check.path from address: ok when the status is in check.expect_status (inclusive)
    and, if check.body_contains is set, the first 64 KiB of the body contain it.

    scheme defaults to the check's type; Host is check.host or the address; for https,
    check.host is also the TLS server name, and tls_verify False accepts any certificate.
    Redirects are not followed (a 3xx is a status like any other). session: reuse one
    (each request still opens its own connection); None: a session for this request.
    """
    timeout = check.timeout_s if timeout_s is None else timeout_s
    scheme = scheme or ("https" if check.type is CheckType.HTTPS else "http")
    host = f"[{address}]" if ":" in address else address
    url = f"{scheme}://{host}:{check.effective_port}{check.path}"
    headers = {"User-Agent": USER_AGENT}
    if check.host:
        headers["Host"] = check.host
    tls: ssl.SSLContext | bool = True
    if scheme == "https" and not check.tls_verify:
        tls = _UNVERIFIED
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            if session is None:
                connector = aiohttp.TCPConnector(force_close=True)
                async with aiohttp.ClientSession(connector=connector) as own:
                    reason = await _get(own, url, headers, tls, check, scheme)
            else:
                reason = await _get(session, url, headers, tls, check, scheme)
    except TimeoutError:
        return Result(False, time.perf_counter() - started, _timeout(timeout))
    except aiohttp.ClientConnectorCertificateError as exc:
        detail = getattr(exc.certificate_error, "verify_message", "") or ""
        return Result(
            False,
            time.perf_counter() - started,
            "tls: certificate verify failed" + (f": {detail}" if detail else ""),
        )
    except aiohttp.ClientSSLError as exc:
        return Result(False, time.perf_counter() - started, f"tls: {_ssl_reason(exc)}")
    except aiohttp.ClientConnectorError as exc:
        return Result(False, time.perf_counter() - started, _os_reason(exc.os_error))
    except aiohttp.ServerDisconnectedError:
        return Result(False, time.perf_counter() - started, "server disconnected")
    except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
        return Result(False, time.perf_counter() - started, f"http error: {type(exc).__name__}")
    latency = time.perf_counter() - started
    return Result(reason is None, latency, reason or "http ok")


async def _get(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    tls: ssl.SSLContext | bool,
    check: Check,
    scheme: str,
) -> str | None:
    """None when the check passes, else why not ("http 503", "body lacks 'ok'")."""
    server_name = check.host.split(":")[0] if scheme == "https" and check.host else None
    async with session.get(
        url, headers=headers, ssl=tls, allow_redirects=False, server_hostname=server_name
    ) as response:
        low, high = check.expect_status
        if not low <= response.status <= high:
            return f"http {response.status}"
        if check.body_contains is not None:
            body = bytearray()
            while len(body) < BODY_LIMIT:
                chunk = await response.content.read(BODY_LIMIT - len(body))
                if not chunk:
                    break
                body += chunk
            if check.body_contains.encode() not in body:
                return f"body lacks {check.body_contains!r}"
        return None


def _timeout(timeout_s: float) -> str:
    return f"timeout after {float(timeout_s)}s"


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connect refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.EADDRNOTAVAIL: "address not available",
    errno.ETIMEDOUT: "connect timed out",
}


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if exc.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[exc.errno]
    return f"connect failed: {exc.strerror or type(exc).__name__}".lower()


def _ssl_reason(exc: aiohttp.ClientSSLError) -> str:
    inner = getattr(exc, "os_error", None)
    if isinstance(inner, ssl.SSLError) and inner.reason:
        return inner.reason.lower().replace("_", " ")
    return "handshake failed"
