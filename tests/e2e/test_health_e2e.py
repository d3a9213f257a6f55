"""Health end to end (issue 5): the real `geodns serve` process, real HTTP and TCP backends
on 127.0.0.2, 127.0.0.3, ..., and the DNS answers it gives watched over UDP while the
backends die and come back, probes vote and report, and members are drained.

One server serves the whole module (its built-in checker is the probe "node-a"); every
test owns its pool name and its loopback addresses, so the process's health state (the
flap damper remembers addresses) never leaks from one test into another, and deletes its
pool when done, which stops its checks.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.message
import dns.query
import pytest
from harness import SERVE_ZONES, GeodnsProcess, geodns_command, loopback_args, start_geodns
from integration.health_backends import BackendLoop, HttpBackend, TcpBackend
from polling import within

pytestmark = pytest.mark.e2e
NODE = "node-a"  # --node-name: the built-in checker's name among the probes
FLAP_HOLD_S = 3  # GEODNS_FLAP_HOLD: short enough for the release to be seen here
ZONE = "example.test."


@dataclass
class HealthServer:
    """The module's geodns process, its API tokens, and the backends' event loop."""

    server: GeodnsProcess
    database: str
    admin: str
    backends: BackendLoop
    tokens: dict[str, str] = field(default_factory=dict)  # prober name -> token

    def api(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.server.api + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
        )
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {token or self.admin}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def answers(self, name: str) -> set[str]:
        reply = dns.query.udp(
            dns.message.make_query(name, "A"), self.server.host, port=self.server.port, timeout=2
        )
        return {rr.to_text() for rrset in reply.answer for rr in rrset}

    def report(
        self, prober: str, address: str, status: str, ttl: float = 60.0, reason: str = ""
    ) -> dict[str, Any]:
        code, body = self.api(
            "POST",
            "/api/v1/health/reports",
            {"reports": [{"address": address, "status": status, "ttl": ttl, "reason": reason}]},
            self.tokens[prober],
        )
        assert code == 200, body
        [outcome] = body["addresses"]
        return dict(outcome)

    def health(self, address: str) -> dict[str, Any]:
        code, body = self.api("GET", f"/api/v1/health/addresses/{address}")
        assert code == 200, body
        return dict(body)

    def vote(self, address: str, probe: str) -> dict[str, Any] | None:
        """probe's report on address as the health endpoint shows it (None: none)."""
        return next((p for p in self.health(address)["probes"] if p["probe"] == probe), None)


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HealthServer]:
    workdir = tmp_path_factory.mktemp("health")
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    created = geodns_command(
        "token", "create", "--role", "admin", "--name", "ops", "--database", database
    )
    assert created.returncode == 0, created.stderr
    server = start_geodns(
        [
            *loopback_args(zones, database),
            "--no-geoip",
            "--node-name",
            NODE,
        ],
        # the unit-less spelling on purpose: an operator's old environment keeps working
        env={"GEODNS_FLAP_HOLD": str(FLAP_HOLD_S)},
    )
    server.wait_for_log(
        r"deprecated setting: environment GEODNS_FLAP_HOLD is deprecated: "
        r"use GEODNS_FLAP_HOLD_S"
    )
    backends = BackendLoop()
    state = HealthServer(server, database, created.stdout.strip(), backends)
    try:
        for name in ("probe-a", "probe-b", "probe-cli"):
            code, body = state.api("POST", "/api/v1/tokens", {"name": name, "role": "prober"})
            assert code == 201, body
            state.tokens[name] = body["token"]
        yield state
    finally:
        backends.close()
        server.stop()


@pytest.fixture
def pools(health: HealthServer) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """create(document) -> the created pool; every pool created is deleted afterwards (its
    checks stop) and every backend the test started is stopped."""
    created: list[str] = []

    def create(document: dict[str, Any]) -> dict[str, Any]:
        code, body = health.api("POST", "/api/v1/pools", document)
        assert code == 201, body
        created.append(body["name"])
        return dict(body)

    try:
        yield create
        for name in created:
            code, body = health.api("DELETE", f"/api/v1/pools/{name}")
            assert code in (204, 404), body  # 404: the test deleted it itself
    finally:
        health.backends.stop_running()


def check_of(kind: str, port: int, **timing: float) -> dict[str, Any]:
    check: dict[str, Any] = {"type": kind, "port": port, **timing}
    if kind == "http":
        check["path"] = "/health"
    return check


# -- 1. the built-in checker: interval x fall + 1 s (issue 5 §1, §5) ---------------------

INTERVAL_S, TIMEOUT_S, RISE, FALL = 0.5, 0.3, 2, 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "hosts"),
    [
        ("http", ("127.0.0.2", "127.0.0.3", "127.0.0.4")),
        ("tcp", ("127.0.0.5", "127.0.0.6", "127.0.0.7")),
    ],
    ids=["http", "tcp"],
)
def test_builtin_check_takes_a_dead_backend_out_within_interval_x_fall_plus_1s_issue5_s5(
    health, pools, kind, hosts
):
    make = HttpBackend if kind == "http" else TcpBackend
    backends = [make(host) for host in hosts]
    port = health.backends.start(*backends)
    name = f"{kind}-check.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 3,
            "members": [{"address": h} for h in hosts],
            "check": check_of(
                kind, port, interval_s=INTERVAL_S, timeout_s=TIMEOUT_S, rise=RISE, fall=FALL
            ),
        }
    )
    everyone, dead, rest = set(hosts), hosts[1], set(hosts) - {hosts[1]}
    assert health.answers(name) == everyone  # the first answer after 201 has every result

    bound = INTERVAL_S * FALL + 1.0
    stopped_at = time.monotonic()
    health.backends.call(backends[1].stop())
    within(10, lambda: health.answers(name) == rest, f"{dead} never left the answers")
    gone_after = time.monotonic() - stopped_at
    assert gone_after <= bound, (
        f"{kind}: {dead} left the answers {gone_after:.3f} s after its backend stopped; "
        f"issue 5 §5 allows interval x fall + 1 s = {bound:g} s"
    )
    # that one failure (or success, for rise) is not enough is tested without a clock in
    # tests/unit/health/test_state.py (test_up_goes_down_only_after_fall_failures_in_a_row):
    # a lower time bound here flakes, since a check already in flight when the backend
    # stops (or starts) is the first result
    assert all(health.answers(name) == rest for _ in range(20))  # and stays out
    state = health.health(dead)
    assert (state["status"], state["reason"]) == ("down", f"connect refused ({NODE})")

    restarted_at = time.monotonic()
    health.backends.call(backends[1].start())
    within(10, lambda: health.answers(name) == everyone, f"{dead} never came back")
    back_after = time.monotonic() - restarted_at
    rise_bound = INTERVAL_S * RISE + 1.0
    assert back_after <= rise_bound, (
        f"{kind}: {dead} came back {back_after:.3f} s after its backend restarted; "
        f"rise {RISE} x interval {INTERVAL_S:g} s + 1 s = {rise_bound:g} s"
    )
    transitions = health.health(dead)["transitions"]
    assert [(t["status"], t["votes"]) for t in transitions[:2]] == [
        ("up", {NODE: "up"}),
        ("down", {NODE: "down"}),
    ]


# -- 2. a new pool's first answers wait for a first result (issue 5 §1) ------------------


def test_a_new_pools_first_answer_already_excludes_a_member_dead_from_the_start_issue5_s1(
    health, pools
):
    alive = HttpBackend("127.0.0.8")
    hung = HttpBackend("127.0.0.10", delay_s=5.0)  # accepts, never answers within the timeout
    port = health.backends.start(alive, hung)
    timeout = 0.3
    name = f"fresh.{ZONE}"
    started = time.monotonic()
    pools(
        {
            "name": name,
            "max_answers": 3,
            "members": [{"address": a} for a in ("127.0.0.8", "127.0.0.9", "127.0.0.10")],
            "check": check_of("http", port, interval_s=2, timeout_s=timeout),
        }
    )  # .9: refused
    waited = time.monotonic() - started
    # the 201 came after the checks' first results: the hung one's after its timeout, and
    # no later than the bound refresh_from_store waits (timeout + 1 s grace + 1 s to store)
    assert timeout <= waited <= timeout + 2.0 + 1.0, f"POST took {waited:.3f} s"
    answers = [health.answers(name) for _ in range(20)]
    assert answers == [{"127.0.0.8"}] * 20, "answered blind before the first check results"
    assert health.health("127.0.0.9")["reason"] == f"connect refused ({NODE})"
    assert health.health("127.0.0.10")["reason"] == f"timeout after {timeout}s ({NODE})"


# -- 3. an external report changes the answers within 1 s (issue 5 §5) -------------------


def test_an_external_down_report_changes_the_answers_within_1s_issue5_s5(health, pools):
    name = f"reported.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 2,
            "members": [{"address": "127.0.0.11"}, {"address": "127.0.0.12"}],
        }
    )  # no check
    assert health.answers(name) == {"127.0.0.11", "127.0.0.12"}
    sent = time.monotonic()
    outcome = health.report("probe-a", "127.0.0.11", "down", reason="http 503")
    within(5, lambda: health.answers(name) == {"127.0.0.12"}, "the report had no effect")
    gone_after = time.monotonic() - sent
    assert outcome == {
        "address": "127.0.0.11",
        "status": "down",
        "reason": "http 503 (probe-a)",
        "transition": True,
    }
    assert gone_after <= 1.0, (
        f"127.0.0.11 left the answers {gone_after:.3f} s after the report was sent; "
        "issue 5 §5 allows 1 s"
    )
    sent = time.monotonic()
    health.report("probe-a", "127.0.0.11", "up", reason="http 200")
    within(5, lambda: health.answers(name) == {"127.0.0.11", "127.0.0.12"}, "never came back")
    back_after = time.monotonic() - sent
    assert back_after <= 1.0, f"came back {back_after:.3f} s after the up report; 1 s allowed"


# -- 4. quorum of three probes (issue 5 §2, Tests) ---------------------------------------


@pytest.mark.slow
def test_one_lying_probe_of_three_cannot_pull_an_address_two_can_and_expiry_returns_it_issue5_s2(
    health, pools
):
    address, other = "127.0.0.13", "127.0.0.14"
    port = health.backends.start(HttpBackend(address), HttpBackend(other))
    name = f"quorum.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 2,
            "members": [{"address": address}, {"address": other}],
            "check": check_of("http", port, interval_s=0.5, timeout_s=0.3),
        }
    )
    both = {address, other}
    assert health.answers(name) == both
    assert (health.vote(address, NODE) or {}).get("status") == "up"  # the built-in probe

    assert health.report("probe-b", address, "up", ttl=60)["status"] == "up"
    lie = health.report("probe-a", address, "down", ttl=60, reason="probe-a's network is broken")
    assert (lie["status"], lie["transition"]) == ("up", False)  # 1 of 3 live probes
    probes = {p["probe"]: (p["status"], p["live"]) for p in health.health(address)["probes"]}
    assert probes == {NODE: ("up", True), "probe-a": ("down", True), "probe-b": ("up", True)}
    assert all(health.answers(name) == both for _ in range(20))

    ttl = 2.0
    health.report("probe-a", address, "down", ttl=ttl, reason="http 503")
    sent = time.monotonic()
    second = health.report("probe-b", address, "down", ttl=ttl, reason="http 503")
    assert (second["status"], second["transition"]) == ("down", True)  # 2 of 3
    assert second["reason"] == "http 503 (probe-a, probe-b)"
    within(5, lambda: health.answers(name) == {other}, "2 of 3 down votes had no effect")
    shown = health.health(address)
    assert shown["transitions"][0]["votes"] == {NODE: "up", "probe-a": "down", "probe-b": "down"}

    # both reports expire; the node's up vote is the only live one left: up again. The
    # node redecides when the first report expires (the store said it was due), so within
    # ttl (+ 2 s for the loaded machine)
    within(ttl + 5, lambda: health.answers(name) == both, "expired reports kept it down")
    back_after = time.monotonic() - sent
    assert back_after <= ttl + 2.0, (
        f"up again {back_after:.3f} s after reports with ttl {ttl:g} s; the redecision "
        "is due at the expiry"
    )
    probes = {p["probe"]: (p["status"], p["live"]) for p in health.health(address)["probes"]}
    assert probes == {NODE: ("up", True), "probe-a": ("down", False), "probe-b": ("down", False)}


# -- 5. flap damping, once end to end (issue 5 §3) ---------------------------------------


@pytest.mark.slow
def test_a_flapping_backend_is_held_down_after_more_than_4_changes_issue5_s3(health, pools):
    """More than 4 changes in 300 s (the defaults) hold an address down until it has been
    stable for the hold (GEODNS_FLAP_HOLD, 3 s here instead of 120 s): it stays out while
    healthy and checked, then comes back."""
    flapper = HttpBackend("127.0.0.15")
    port = health.backends.start(flapper, HttpBackend("127.0.0.16"))
    name = f"flappy.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 2,
            "members": [{"address": "127.0.0.15"}, {"address": "127.0.0.16"}],
            "check": check_of("http", port, interval_s=0.2, timeout_s=0.15, rise=1, fall=1),
        }
    )
    both, rest = {"127.0.0.15", "127.0.0.16"}, {"127.0.0.16"}
    assert health.answers(name) == both
    for change in range(1, 5):  # down, up, down, up: four changes still pass
        if change % 2:
            health.backends.call(flapper.stop())
            within(10, lambda: health.answers(name) == rest, f"change {change}: not down")
        else:
            health.backends.call(flapper.start())
            within(10, lambda: health.answers(name) == both, f"change {change}: not up")
    health.backends.call(flapper.stop())  # the fifth change
    within(10, lambda: health.answers(name) == rest, "change 5: not down")
    health.backends.call(flapper.start())  # healthy again, and stays so
    within(
        10,
        lambda: (health.vote("127.0.0.15", NODE) or {}).get("status") == "up",
        "the built-in probe never saw the backend up again",
    )
    requests = len(flapper.requests)
    held_since = time.monotonic()
    while time.monotonic() - held_since < FLAP_HOLD_S / 2:  # well inside the hold
        assert health.answers(name) == rest, "a flapping address came back before its hold"
    assert len(flapper.requests) >= requests + 5  # checked, and answering, all along
    state = health.health("127.0.0.15")
    assert state["status"] == "down"
    assert state["reason"] == (
        f"flapping: more than 4 changes in 300s, held down until stable for {FLAP_HOLD_S}s"
    )
    assert state["held_until"] is not None
    # stable for the hold: released (the redecision is due when the hold ends)
    within(FLAP_HOLD_S + 5, lambda: health.answers(name) == both, "never released")
    assert health.health("127.0.0.15")["status"] == "up"


# -- 6. adaptive weights, once end to end (issue 5 §4) -----------------------------------


@pytest.mark.slow
def test_adaptive_gives_the_faster_member_more_answers_within_the_weight_floor_issue5_s4(
    health, pools
):
    fast, slow = "127.0.0.17", "127.0.0.18"
    port = health.backends.start(HttpBackend(fast), HttpBackend(slow, delay_s=0.1))
    name = f"adaptive.{ZONE}"
    pools(
        {
            "name": name,
            "policy": "adaptive",
            "max_answers": 1,
            "members": [{"address": fast, "weight": 100}, {"address": slow, "weight": 100}],
            "check": check_of("http", port, interval_s=0.3, timeout_s=0.25),
        }
    )

    def weights() -> dict[str, tuple[int, int]]:
        code, body = health.api("GET", f"/api/v1/explain?name={name}&type=A&client=127.0.0.1")
        assert code == 200, body
        return {
            m["address"]: (m["configured_weight"], m["effective_weight"])
            for region in body["explanation"]["regions"]
            for m in region["members"]
        }

    # 100 -> 75 -> 50 -> 25 -> 20: one step of at most 25 % per check interval
    within(20, lambda: weights()[slow][1] <= 30, f"the slow member kept weight {weights()}")
    shares = Counter(next(iter(health.answers(name))) for _ in range(400))
    shown = weights()
    assert shown[fast] == (100, 100)
    configured, effective = shown[slow]
    assert configured == 100 and 20 <= effective <= 30, shown  # floor: 0.2 x configured
    assert shares[fast] / 400 >= 0.65, f"answers {dict(shares)} for weights {shown}"
    # the console's pool page: configured and effective weight, the last check's latency
    code, state = health.api("GET", f"/api/v1/pools/{name}/state")
    assert code == 200, state
    members = {m["address"]: m for m in state["members"]}
    assert (members[fast]["weight"], members[fast]["effective_weight"]) == (100, 100)
    assert members[slow]["weight"] == 100 and 20 <= members[slow]["effective_weight"] <= 30
    assert members[slow]["latency_ms"] >= 100  # the backend answers after 0.1 s
    assert 0 < members[fast]["latency_ms"] < members[slow]["latency_ms"]


# -- 7. drained and disabled members are still checked (issue 5 §6) ----------------------


def test_drained_and_disabled_members_are_still_checked_and_their_health_shown_issue5_s6(
    health, pools
):
    drained, disabled, serving = (
        HttpBackend("127.0.0.19"),
        HttpBackend("127.0.0.20"),
        HttpBackend("127.0.0.21"),
    )
    port = health.backends.start(drained, disabled, serving)
    name = f"maintenance.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 3,
            "members": [
                {"address": "127.0.0.19", "weight": 0},
                {"address": "127.0.0.20", "enabled": False},
                {"address": "127.0.0.21"},
            ],
            "check": check_of("http", port, interval_s=0.2, timeout_s=0.15),
        }
    )
    assert health.answers(name) == {"127.0.0.21"}
    for backend in (drained, disabled):
        within(10, lambda b=backend: len(b.requests) >= 3, f"{backend.host} not checked")
        assert {r["path"] for r in backend.requests} == {"/health"}
        assert all(r["User-Agent"].startswith("geodns/") for r in backend.requests)
        vote = health.vote(backend.host, NODE)
        assert vote is not None and (vote["status"], vote["live"]) == ("up", True), vote

    health.backends.call(drained.stop())  # dies while drained: known before it is put back
    within(10, lambda: health.health("127.0.0.19")["status"] == "down", "drained: not down")
    code, body = health.api("PATCH", f"/api/v1/pools/{name}/members/127.0.0.19", {"weight": 100})
    assert code == 200, body
    assert all(health.answers(name) == {"127.0.0.21"} for _ in range(20))
    health.backends.call(drained.start())
    within(10, lambda: health.answers(name) == {"127.0.0.19", "127.0.0.21"}, "not back")


def test_deleting_a_member_or_its_pool_stops_its_checks_issue5_s1(health, pools):
    kept, removed = HttpBackend("127.0.0.24"), HttpBackend("127.0.0.25")
    port = health.backends.start(kept, removed)
    name = f"deleted.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 2,
            "members": [{"address": "127.0.0.24"}, {"address": "127.0.0.25"}],
            "check": check_of("http", port, interval_s=0.2, timeout_s=0.15),
        }
    )
    within(10, lambda: len(removed.requests) >= 2, "127.0.0.25 not checked")

    def stays_unchecked(backend: HttpBackend, seconds: float = 1.0) -> None:
        """Watch backend for seconds (5 intervals): one check already in flight may land."""
        limit, started = len(backend.requests) + 1, time.monotonic()
        while time.monotonic() - started < seconds:
            assert len(backend.requests) <= limit, f"{backend.host} is still checked"
            time.sleep(0.02)

    code, body = health.api("DELETE", f"/api/v1/pools/{name}/members/127.0.0.25")
    assert code == 204, body
    stays_unchecked(removed)
    seen = len(kept.requests)
    within(5, lambda: len(kept.requests) >= seen + 3, "the remaining member's check stopped")
    code, body = health.api("DELETE", f"/api/v1/pools/{name}")
    assert code == 204, body
    stays_unchecked(kept)


# -- 8. `geodns probe --once` against the real server (issue 5 §2) -----------------------


def test_geodns_probe_once_reports_a_dead_backend_and_it_leaves_the_answers_issue5_s2(
    health, pools
):
    alive = HttpBackend("127.0.0.22")
    port = health.backends.start(alive)  # 127.0.0.23: nothing listens on the port
    name = f"probed.{ZONE}"
    pools(
        {
            "name": name,
            "max_answers": 2,
            "members": [{"address": "127.0.0.22"}, {"address": "127.0.0.23"}],
        }
    )  # no check
    assert health.answers(name) == {"127.0.0.22", "127.0.0.23"}
    probe = [
        "probe",
        "--api",
        health.server.api,
        "--pool",
        name,
        "--check",
        f"http://{{address}}:{port}/health",
        "--timeout",
        "1",
        "--once",
    ]

    ran = geodns_command(*probe, "--token", health.tokens["probe-cli"])
    finished = time.monotonic()
    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert sorted(lines, key=lambda r: r["address"]) == [
        {"address": "127.0.0.22", "status": "up", "reason": "http ok", "ttl": 31.0},
        {"address": "127.0.0.23", "status": "down", "reason": "connect refused", "ttl": 31.0},
    ]
    within(5, lambda: health.answers(name) == {"127.0.0.22"}, "the probe's report had no effect")
    gone_after = time.monotonic() - finished  # the report was in before the probe exited
    assert gone_after <= 1.0, f"127.0.0.23 left {gone_after:.3f} s after the probe exited"
    vote = health.vote("127.0.0.23", "probe-cli")
    assert vote is not None
    assert (vote["status"], vote["reason"], vote["live"]) == ("down", "connect refused", True)
    assert any(r["User-Agent"].startswith("geodns/") for r in alive.requests)
    # from cron: the report must outlive the time to the next run (issue 12 §6)
    cron = geodns_command(*probe, "--ttl", "660", "--token", health.tokens["probe-cli"])
    assert cron.returncode == 0, cron.stderr
    assert {json.loads(line)["ttl"] for line in cron.stdout.splitlines()} == {660.0}
    vote = health.vote("127.0.0.23", "probe-cli")
    assert vote is not None and vote["ttl"] == 660.0

    refused = geodns_command(*probe, "--token", "gdns_" + "x" * 43)
    assert refused.returncode != 0 and refused.stdout == ""
    assert (
        f"geodns probe: GET {health.server.api}/api/v1/pools/{name}: http 401: the API "
        "refused the token (a prober token is needed: geodns token create --role prober "
        "--name NAME)"
    ) in refused.stderr, refused.stderr
