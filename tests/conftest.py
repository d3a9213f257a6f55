"""Fixtures shared by every test tier: the real geodns process on the test zones."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import SERVE_ZONES, GeodnsProcess, start_geodns


def serve_test_zones(workdir: Path, *extra: str) -> GeodnsProcess:
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    return start_geodns(
        [
            "--dns",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--zones",
            str(zones),
            "--database",
            f"sqlite+aiosqlite:///{workdir / 'geodns.db'}",
            "--no-geoip",
            "--tcp-idle-timeout-s",
            "2",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def geodns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeodnsProcess]:
    """The real geodns process serving tests/data/serve on a free loopback port, shared by the
    tests of one module: they only query it. Tests that change it use fresh_geodns_server."""
    server = serve_test_zones(tmp_path_factory.mktemp("geodns"))
    yield server
    server.stop()


@pytest.fixture
def fresh_geodns_server(tmp_path: Path) -> Iterator[GeodnsProcess]:
    """A geodns process of the test's own; its zone files are in tmp_path / "zones"."""
    server = serve_test_zones(tmp_path)
    yield server
    server.stop()
