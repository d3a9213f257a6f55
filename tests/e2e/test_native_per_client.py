"""A pool answered per client network on the native plane, asked without ECS from many
loopback sources: the C loop finds a source's entry by its exact address once it has found
it by the client network, and that shortcut must never answer for another client, nor
outlive the entry it leads to (issue 11).

tests/data/loopback-geo.mmdb places 127.0.1.0/24 in the US (continent NA) and
127.0.2.0/24 in Germany (EU); every 127.0.0.0/8 address is a usable loopback source.
"""

from __future__ import annotations

import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest
from harness import DATA, SERVE_ZONES, GeodnsProcess, apply_pools, loopback_args, start_geodns

pytestmark = pytest.mark.e2e

US = {"192.0.2.11", "192.0.2.12"}
EU = {"192.0.2.21", "192.0.2.22"}
MOVED = {"192.0.2.13", "192.0.2.14"}  # the US members after the change


def pools_yaml(us_members: set[str]) -> str:
    """Two pools routed by the client's continent: each answers all of its region's members
    (max_answers 2 of 2), so the right answer is one set, whatever the draw."""
    text = "pools:\n"
    for name, us in (("near.example.test", US), ("moving.example.test", us_members)):
        text += f"  - name: {name}\n    policy: weighted\n    max_answers: 2\n"
        text += "    default_regions: [us]\n    members:\n"
        for address in sorted(us):
            text += f"      - {{address: {address}, region: us}}\n"
        for address in sorted(EU):
            text += f"      - {{address: {address}, region: eu}}\n"
        text += "    rules:\n      - {match: {continent: NA}, regions: [us]}\n"
        text += "      - {match: {continent: EU}, regions: [eu]}\n"
    return text


class Server:
    def __init__(self, process: GeodnsProcess, database: str, workdir: Path) -> None:
        self.process, self.database, self.workdir = process, database, workdir

    def apply(self, us_members: set[str]) -> None:
        pools_file = self.workdir / "pools.yaml"
        pools_file.write_text(pools_yaml(us_members))
        apply_pools(self.database, self.workdir / "zones", pools_file)

    def addresses(self, qname: str, source: str) -> set[str]:
        query = dns.message.make_query(qname, "A")  # no ECS: routed by the source address
        reply = dns.query.udp(
            query, self.process.host, port=self.process.port, source=source, timeout=2
        )
        return {r.to_text() for rrset in reply.answer for r in rrset}

    def hits(self) -> float:
        """The queries the C loop answered from its table (/metrics)."""
        with urllib.request.urlopen(f"{self.process.api}/metrics", timeout=5) as response:
            lines = response.read().decode().splitlines()
        [line] = [x for x in lines if x.startswith('geodns_native_queries_total{outcome="hit"}')]
        return float(line.split()[-1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("per_client")
    shutil.copytree(SERVE_ZONES, workdir / "zones")
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    (workdir / "pools.yaml").write_text(pools_yaml(US))
    apply_pools(database, workdir / "zones", workdir / "pools.yaml")
    process = start_geodns(
        [
            *loopback_args(workdir / "zones", database),
            *("--geoip-db", str(DATA / "loopback-geo.mmdb")),
            *("--poll-interval-s", "0.1", "--data-plane", "native"),
        ]
    )
    yield Server(process, database, workdir)
    process.stop()


def test_clients_of_one_network_at_different_addresses_each_get_their_networks_answer(server):
    sources = {"127.0.1.1": US, "127.0.1.2": US, "127.0.1.200": US}
    sources |= {"127.0.2.1": EU, "127.0.2.2": EU, "127.0.2.77": EU}
    before = server.hits()
    rounds = 6
    for _ in range(rounds):  # interleaved: each address's shortcut sits beside the others'
        for source, expected in sources.items():
            assert server.addresses("near.example.test.", source) == expected, source
    # one first sight per network (Python's), the rest C's
    assert server.hits() - before >= rounds * len(sources) - 2


def test_a_pool_changed_by_a_new_snapshot_answers_a_remembered_source_anew(server):
    for _ in range(5):  # found by network, then by the exact address
        assert server.addresses("moving.example.test.", "127.0.1.1") == US
        assert server.addresses("moving.example.test.", "127.0.2.1") == EU
    server.apply(MOVED)
    deadline = time.monotonic() + 30
    while (got := server.addresses("moving.example.test.", "127.0.1.1")) != MOVED:
        assert got == US, got  # the old answer until the new snapshot, never anything else
        assert time.monotonic() < deadline, "the change never reached the server"
        time.sleep(0.05)
    before = server.hits()
    for _ in range(5):  # the same sources, now from the new snapshot's table
        assert server.addresses("moving.example.test.", "127.0.1.1") == MOVED
        assert server.addresses("moving.example.test.", "127.0.1.9") == MOVED
        assert server.addresses("moving.example.test.", "127.0.2.1") == EU
    assert server.hits() - before >= 15 - 2
