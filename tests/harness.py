"""The real geodns process for tests: start it, prove it answers, read its log, stop it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from geodns.store.repository import Store

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SERVE_ZONES = DATA / "serve"
MAXMIND = DATA / "maxmind"
LISTEN_DNS = re.compile(r"listening dns=(\S+):(\d+) ")
LISTEN_DATA_PLANE = re.compile(r"listening dns=\S+ transport=\S+ data_plane=(\w+)")
# who answers UDP, as --data-plane names them; the server fixtures run once with each
DATA_PLANES = ("python", "native")
LISTEN_API = re.compile(r"listening api=(https?://\S+)")


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without GEODNS_* settings, so a developer's shell cannot leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEODNS_")}
    env.update(extra or {})
    return env


@dataclass
class GeodnsProcess:
    """A running `geodns serve`, proven to answer before a test gets it."""

    process: subprocess.Popen[str]
    host: str = ""
    port: int = 0
    api: str = ""
    data_plane: str = ""  # the one its log says it listens with
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def log(self) -> str:
        return "".join(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = regex.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r}; log:\n{self.log()}")

    def query(
        self, qname: str, rdtype: str = "A", *, tcp: bool = False, **kwargs: object
    ) -> dns.message.Message:
        message = dns.message.make_query(qname, rdtype, **kwargs)  # type: ignore[arg-type]
        send = dns.query.tcp if tcp else dns.query.udp
        return send(message, self.host, port=self.port, timeout=2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(2)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode


def loopback_args(zones: Path | str, database: str, *, api: str = "127.0.0.1:0") -> list[str]:
    """The `geodns serve` flags every test process starts with: DNS (and, unless api is
    "off", the API) on free loopback ports, serving zones from database."""
    return ["--dns", "127.0.0.1:0", "--api", api, "--zones", str(zones), "--database", database]


def start_geodns(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    ready_name: str = "example.test.",
    timeout: float = 60.0,  # a shared, loaded machine can take 20 s and more to start one
    launcher: list[str] | None = None,
) -> GeodnsProcess:
    """Start `python -m geodns serve ARGS` and return once it answered a SOA query.

    launcher replaces `python -m geodns` (a test that runs geodns under other conditions)."""
    command = [*(launcher or [sys.executable, "-m", "geodns"]), "serve", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environ(env),
        cwd=cwd or ROOT,
    )
    server = GeodnsProcess(process)

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.lines.append(line)

    server._reader = threading.Thread(target=drain, daemon=True)
    server._reader.start()
    try:
        match = server.wait_for_log(LISTEN_DNS.pattern, timeout)
        server.host, server.port = match.group(1).strip("[]"), int(match.group(2))
        server.data_plane = server.wait_for_log(LISTEN_DATA_PLANE.pattern, 2).group(1)
        asked = args[args.index("--data-plane") + 1] if "--data-plane" in args else "auto"
        if asked in DATA_PLANES and server.data_plane != asked:
            raise AssertionError(f"asked for data plane {asked}, got {server.data_plane}")
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = server.query(ready_name, "SOA")
                if reply.rcode() in (dns.rcode.NOERROR, dns.rcode.REFUSED):
                    break
            except (OSError, dns.exception.Timeout):
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"geodns did not answer; log:\n{server.log()}")
            time.sleep(0.05)
        if "off" not in args:
            server.api = server.wait_for_log(LISTEN_API.pattern, 5).group(1)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


def geodns_command(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m geodns ARGS` run to its end, as an operator runs a command."""
    return subprocess.run(
        [sys.executable, "-m", "geodns", *args],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=ROOT,
        timeout=timeout,
    )


def apply_pools(database: str, zones: Path, pools_file: Path) -> str:
    result = geodns_command(
        "pools", "apply", str(pools_file), "--database", database, "--zones", str(zones)
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def create_token(database: str, role: str, name: str) -> str:
    """`geodns token create`: the new token (the command prints it alone)."""
    created = geodns_command(
        "token", "create", "--role", role, "--name", name, "--database", database
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def drain_member(database: str, name: str, address: str) -> None:
    """Set one member's weight to 0 through the store, as the API or a script would."""

    async def write() -> None:
        store = await Store.open(database)
        try:
            pool, version = await store.get_pool(name)
            members = tuple(
                replace(m, weight=0) if m.address == address else m for m in pool.members
            )
            await store.replace_pool(replace(pool, members=members), version)
        finally:
            await store.close()

    asyncio.run(write())
