"""Fixtures shared by every test tier: the real geodns process on the test zones.

geodns_server and fresh_geodns_server run once per data plane (data_plane: "python", then
"native"): every test of theirs is a test of both. A test or module that wants one plane
only parametrizes data_plane itself, e.g.
    pytestmark = pytest.mark.parametrize("data_plane", ["native"], indirect=True)
and a server of a test's own takes the fixture and passes --data-plane data_plane.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import DATA_PLANES, SERVE_ZONES, GeodnsProcess, loopback_args, start_geodns


@pytest.fixture(scope="module", params=DATA_PLANES)
def data_plane(request: pytest.FixtureRequest) -> str:
    """The data plane answering UDP ("python" or "native"); the parameter of the server
    fixtures, module-scoped so each module starts one server per plane."""
    plane: str = request.param
    return plane


def serve_test_zones(workdir: Path, *extra: str, data_plane: str = "auto") -> GeodnsProcess:
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    return start_geodns(
        [
            *loopback_args(zones, f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"),
            "--no-geoip",
            "--tcp-idle-timeout-s",
            "2",
            "--data-plane",
            data_plane,
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def geodns_server(
    tmp_path_factory: pytest.TempPathFactory, data_plane: str
) -> Iterator[GeodnsProcess]:
    """The real geodns process serving tests/data/serve on a free loopback port, shared by the
    tests of one module: they only query it. Tests that change it use fresh_geodns_server."""
    server = serve_test_zones(tmp_path_factory.mktemp("geodns"), data_plane=data_plane)
    yield server
    server.stop()


@pytest.fixture
def fresh_geodns_server(tmp_path: Path, data_plane: str) -> Iterator[GeodnsProcess]:
    """A geodns process of the test's own; its zone files are in tmp_path / "zones"."""
    server = serve_test_zones(tmp_path, data_plane=data_plane)
    yield server
    server.stop()
