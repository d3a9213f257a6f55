"""Response rate limiting: the keys, the buckets, slip, window, all_per_second, logging.

The counts come from BIND 9's own system test (bin/tests/system/rrl/tests.sh, with
responses-per-second 2, all-per-second 50, slip 3): the same bursts must give the same
answered / slipped / dropped figures here. Every test runs on both data planes' limiters
(the data_plane fixture): RateLimiter, and the native plane's table in C (NativeLimiter).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import dns.edns
import dns.message
import pytest

from geodns.answer import _native
from geodns.answer.context import QueryContext, Transport
from geodns.answer.native_rrl import NativeLimiter
from geodns.answer.resolve import resolve
from geodns.answer.rrl import (
    ERROR_KEY,
    LOG_EVERY_S,
    Category,
    Limiter,
    RateLimiter,
    RrlConfig,
    Verdict,
    describe_key,
    response_key,
)
from geodns.dns import names
from geodns.dns.wire import decode_query
from geodns.dns.zonefile import load_zone_dir
from geodns.pools.model import HealthView
from geodns.pools_file import load_pools_file
from geodns.snapshot import Snapshot, build_snapshot

DATA = Path(__file__).resolve().parents[2] / "data"
# bin/tests/system/rrl/ns2/named.conf: responses-per-second 2; slip 3
BIND_TEST = RrlConfig(responses_per_second=2, slip=3)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    zones = load_zone_dir(DATA / "serve").zones
    pools = load_pools_file(DATA / "pools" / "example.test.yaml")
    return build_snapshot(1, zones, pools, HealthView(), None)


PLANE = ["python"]  # the data plane whose limiter new_limiter() makes


@pytest.fixture(autouse=True)
def limiter_plane(data_plane: str) -> None:
    PLANE[0] = data_plane


def new_limiter(config: RrlConfig) -> Limiter:
    if PLANE[0] == "native":
        return NativeLimiter(config, _native.Engine(os.urandom(16), ()))
    return RateLimiter(config)


def key_for(snapshot: Snapshot, name: str, rdtype: str = "A", **kwargs: object) -> bytes:
    wire = dns.message.make_query(name, rdtype, **kwargs).to_wire()  # type: ignore[arg-type]
    ctx = QueryContext(decode_query(wire), "192.0.2.1", Transport.UDP)
    answer = resolve(ctx, snapshot)
    edns = ctx.query.edns
    ecs = ctx.client_network() if edns is not None and edns.client_subnet else None
    return response_key(answer, ctx.query.qname, ctx.query.qtype, ecs)


def positive(name: str, qtype: int = 1) -> bytes:
    return bytes((Category.RESPONSE,)) + names.from_text(name) + qtype.to_bytes(2, "big")


def burst(
    limiter: Limiter, keys: list[bytes], now: int, source: str = "10.53.0.8"
) -> Counter[Verdict]:
    return Counter(limiter.check(source, key, now) for key in keys)


def test_a_burst_of_identical_answers_as_bind_counts_it(snapshot):
    """tests.sh: 3 then, a second later, 10 queries for a1.tld2: 3 answered, 4 TC, 6 dropped."""
    limiter = new_limiter(BIND_TEST)
    key = key_for(snapshot, "www.example.test.")
    seen = burst(limiter, [key] * 3, now=100) + burst(limiter, [key] * 10, now=101)
    assert seen == {Verdict.SEND: 3, Verdict.SLIP: 4, Verdict.DROP: 6}


def test_names_under_one_wildcard_share_one_key_star_zone(snapshot):
    """tests.sh: 30 names under a wildcard in one second: 2 answered, 10 TC, 18 dropped."""
    keys = [key_for(snapshot, f"y{n}.wild.example.test.") for n in range(30)]
    assert len(set(keys)) == 1
    assert "*.example.test." in describe_key(keys[0])
    seen = burst(new_limiter(BIND_TEST), keys, now=100)
    assert seen == {Verdict.SEND: 2, Verdict.SLIP: 10, Verdict.DROP: 18}


def test_different_answers_are_not_limited_together(snapshot):
    """tests.sh: 10 different qnames each answered once: none limited."""
    keys = [key_for(snapshot, f"{n}example.test.") for n in ("mail.", "sip.", "ns1.", "ns2.", "")]
    assert len(set(keys)) == 5
    assert burst(new_limiter(BIND_TEST), keys * 2, now=100) == {Verdict.SEND: 10}


def test_every_nxdomain_of_a_zone_is_one_key_the_apex(snapshot):
    """tests.sh: 10 different NXDOMAIN names: 2 answered, 3 TC, 5 dropped."""
    keys = [key_for(snapshot, f"z{n}.example.test.") for n in range(10)]
    assert set(keys) == {bytes((Category.NXDOMAIN,)) + names.from_text("example.test.")}
    seen = burst(new_limiter(BIND_TEST), keys, now=100)
    assert seen == {Verdict.SEND: 2, Verdict.SLIP: 3, Verdict.DROP: 5}


def test_nodata_is_one_key_whatever_the_type(snapshot):
    """tests.sh: AAAA, TXT and SPF twice each at a name with none: 2 answered, 2 TC, 2 dropped."""
    keys = [key_for(snapshot, "mail.example.test.", t) for t in ("MX", "TXT", "SPF") * 2]
    assert len(set(keys)) == 1 and keys[0][0] == Category.NODATA
    seen = burst(new_limiter(BIND_TEST), keys, now=100)
    assert seen == {Verdict.SEND: 2, Verdict.SLIP: 2, Verdict.DROP: 2}


def test_errors_are_one_key_per_client_and_never_slipped(snapshot):
    """tests.sh: 10 SERVFAILs: 2 answered, 8 dropped (errors are not slipped)."""
    keys = [key_for(snapshot, f"www.example{n}.org.") for n in range(10)]  # REFUSED
    assert set(keys) == {ERROR_KEY}
    assert burst(new_limiter(BIND_TEST), keys, now=100) == {Verdict.SEND: 2, Verdict.DROP: 8}


def test_all_per_second_limits_a_client_whatever_it_asks_and_always_drops():
    """tests.sh: 60 different answers with all-per-second 50: 50 answered, 10 dropped."""
    limiter = new_limiter(RrlConfig(responses_per_second=2, all_per_second=50, slip=3))
    keys = [positive(f"all{n}.example.") for n in range(60)]
    assert burst(limiter, keys, now=100) == {Verdict.SEND: 50, Verdict.DROP: 10}
    assert limiter.dropped == {"all": 10}


def test_a_pool_is_one_key_whichever_members_were_drawn(snapshot):
    keys = {key_for(snapshot, "www.example.test.") for _ in range(20)}
    assert len(keys) == 1
    assert describe_key(keys.pop()) == "response www.example.test. type=1"


def test_a_pool_behind_a_cname_is_keyed_by_the_pool_name(snapshot):
    assert key_for(snapshot, "alias.example.test.") == key_for(snapshot, "www.example.test.")


def test_the_qtype_separates_positive_answers(snapshot):
    assert key_for(snapshot, "example.test.", "A") != key_for(snapshot, "example.test.", "MX")


def test_a_referral_is_keyed_by_the_delegation(snapshot):
    keys = {key_for(snapshot, f"h{n}.child.example.test.", t) for n in range(5) for t in "A"}
    assert keys == {bytes((Category.REFERRAL,)) + names.from_text("child.example.test.")}


def test_ecs_source_networks_are_told_apart_rfc7871(snapshot):
    def with_ecs(network: str) -> bytes:
        option = dns.edns.ECSOption(network, 24)
        return key_for(snapshot, "www.example.test.", use_edns=0, options=[option])

    assert with_ecs("198.51.100.0") != with_ecs("203.0.113.0")
    assert with_ecs("198.51.100.0") == with_ecs("198.51.100.0")
    assert describe_key(with_ecs("198.51.100.0")).endswith("ecs=198.51.100.0/24")


def test_a_client_block_shares_its_buckets_and_another_block_has_its_own():
    limiter = new_limiter(RrlConfig(responses_per_second=5, slip=0))
    key = positive("k.example.")
    sources = [f"192.0.2.{n}" for n in range(1, 11)]  # one /24
    assert Counter(limiter.check(s, key, 100) for s in sources) == {
        Verdict.SEND: 5,
        Verdict.DROP: 5,
    }
    assert limiter.check("192.0.3.1", key, 100) is Verdict.SEND  # the next /24


def test_ipv6_clients_are_grouped_by_56():
    limiter = new_limiter(RrlConfig(responses_per_second=1, slip=0))
    key = positive("k.example.")
    assert limiter.check("2001:db8:0:ff00::1", key, 100) is Verdict.SEND
    assert limiter.check("2001:db8:0:ffff::2", key, 100) is Verdict.DROP  # same /56
    assert limiter.check("2001:db8:0:100::1", key, 100) is Verdict.SEND  # another /56


def test_credit_is_earned_each_second_up_to_one_seconds_worth():
    limiter = new_limiter(RrlConfig(responses_per_second=3, slip=0))
    key = positive("k.example.")
    for now in range(100, 110):  # a steady 3 a second is never limited
        assert burst(limiter, [key] * 3, now) == {Verdict.SEND: 3}
    assert burst(limiter, [key] * 3, 130) == {Verdict.SEND: 3}  # idle time saves nothing up
    assert limiter.check("10.53.0.8", key, 130) is Verdict.DROP


def test_a_flooding_client_is_answered_again_a_window_after_it_stops():
    """The debt is capped at window x rate: recovery takes the window (BIND's ARM)."""
    limiter = new_limiter(RrlConfig(responses_per_second=2, window_s=5, slip=0))
    key = positive("k.example.")
    for now in range(100, 120):
        burst(limiter, [key] * 50, now)
    assert limiter.check("10.53.0.8", key, 120 + 4) is Verdict.DROP  # still in debt
    assert limiter.check("10.53.0.8", key, 120 + 4 + 6) is Verdict.SEND


def test_slip_zero_drops_everything_and_slip_one_truncates_everything():
    key = positive("k.example.")
    never = new_limiter(RrlConfig(responses_per_second=1, slip=0))
    assert burst(never, [key] * 10, 100) == {Verdict.SEND: 1, Verdict.DROP: 9}
    always = new_limiter(RrlConfig(responses_per_second=1, slip=1))
    assert burst(always, [key] * 10, 100) == {Verdict.SEND: 1, Verdict.SLIP: 9}


def test_the_default_slip_truncates_every_second_limited_response():
    limiter = new_limiter(RrlConfig(responses_per_second=1))
    key = positive("k.example.")
    seen = [limiter.check("10.53.0.8", key, 100) for _ in range(7)]
    assert seen == [Verdict.SEND] + [Verdict.SLIP, Verdict.DROP] * 3


def test_exempt_networks_are_never_limited():
    config = RrlConfig(responses_per_second=1, exempt=("10.53.0.7", "2001:db8::/32"))
    limiter = new_limiter(config)
    key = positive("k.example.")
    assert burst(limiter, [key] * 10, 100, source="10.53.0.7") == {Verdict.SEND: 10}
    assert burst(limiter, [key] * 10, 100, source="2001:db8::53") == {Verdict.SEND: 10}
    assert limiter.size == 0
    assert Verdict.DROP in burst(limiter, [key] * 10, 100, source="10.53.0.8")


def test_log_only_sends_everything_and_counts_what_it_would_limit():
    limiter = new_limiter(RrlConfig(responses_per_second=2, slip=2, log_only=True))
    key = positive("k.example.")
    assert burst(limiter, [key] * 10, 100) == {Verdict.SEND: 10}
    assert limiter.dropped == {"response": 4} and limiter.slipped == {"response": 4}


def test_the_other_rates_default_to_the_responses_rate_as_bind_does():
    config = RrlConfig(responses_per_second=7, nodata_per_second=3)
    assert config.rates() == (7, 3, 7, 7, 7, 0)


def test_a_category_with_rate_zero_is_not_limited():
    limiter = new_limiter(RrlConfig(responses_per_second=1, nxdomains_per_second=0))
    nxdomain = bytes((Category.NXDOMAIN,)) + names.from_text("example.")
    assert burst(limiter, [nxdomain] * 10, 100) == {Verdict.SEND: 10}


def test_the_table_is_bounded_and_forgets_the_least_recently_used():
    limiter = new_limiter(RrlConfig(responses_per_second=1, slip=0, max_entries=100))
    old = positive("old.example.")
    assert limiter.check("10.53.0.8", old, 100) is Verdict.SEND
    assert limiter.check("10.53.0.8", old, 100) is Verdict.DROP
    for n in range(1000):
        limiter.check(f"10.{n // 250}.{n % 250}.1", positive("x.example."), 100)
        assert limiter.size <= 100
    assert limiter.check("10.53.0.8", old, 100) is Verdict.SEND  # forgotten: starts full


def test_a_key_logs_when_limiting_starts_and_stops_at_most_once_a_minute(caplog):
    caplog.set_level(logging.WARNING, logger="geodns.answer.rrl")
    limiter = new_limiter(RrlConfig(responses_per_second=1, window_s=2))
    key = bytes((Category.NXDOMAIN,)) + names.from_text("example.test.")
    for now in range(100, 105):
        burst(limiter, [key] * 20, now)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["rrl started limiting client=10.53.0.0/24 key=nxdomain example.test."]
    for now in range(105, 100 + LOG_EVERY_S):
        burst(limiter, [], now)
        limiter.check("10.99.0.1", key, now)  # other traffic keeps the sweep going
    assert len(caplog.records) == 1  # recovered, but the minute since the first line is not up
    limiter.check("10.99.0.1", key, 100 + LOG_EVERY_S)
    assert caplog.records[-1].getMessage() == (
        "rrl stopped limiting client=10.53.0.0/24 key=nxdomain example.test."
    )
    burst(limiter, [key] * 20, 100 + LOG_EVERY_S + 1)  # again, within the minute: no line
    assert len(caplog.records) == 2
