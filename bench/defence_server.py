"""A geodns process on loopback for the defence benchmarks (rrl_flood.py, tcp_hold.py).

Starts `python -m geodns serve` on the bench zones and pools (bench/example.test.zone,
bench/pools.yaml) with a fresh SQLite file, waits for its "listening dns=" line and gives
the address; stops it (SIGTERM, then SIGKILL after 10 s) when done. Only loopback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
LISTENING = re.compile(r"listening dns=(\S+):(\d+) transport=\S+ data_plane=(\w+)")


@contextmanager
def geodns(*args: str, timeout_s: float = 120.0) -> Iterator[tuple[str, int, list[str]]]:
    """(host, port, log lines so far) of a running server with these extra arguments."""
    with tempfile.TemporaryDirectory() as tmp:
        zones = Path(tmp) / "zones"
        zones.mkdir()
        shutil.copy(BENCH / "example.test.zone", zones / "example.test.zone")
        database = f"sqlite+aiosqlite:///{Path(tmp) / 'geodns.db'}"
        subprocess.run(
            [sys.executable, "-m", "geodns", "pools", "apply", str(BENCH / "pools.yaml"),
             "--database", database, "--zones", str(zones)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        command = [
            sys.executable, "-m", "geodns", "serve", "--dns", "127.0.0.1:0", "--api",
            "127.0.0.1:0", "--zones", str(zones), "--database", database,
            "--geoip-db", str(BENCH / "loopback-geo.mmdb"), *args,
        ]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []

        def drain() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.append(line)

        threading.Thread(target=drain, daemon=True).start()
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                found = next((m for line in list(lines) if (m := LISTENING.search(line))), None)
                if found is not None:
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("geodns did not start:\n" + "".join(lines))
                time.sleep(0.05)
            yield found.group(1), int(found.group(2)), lines
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
