"""The native plane's limiter (the bucket table in C) against rrl.py's, check by check.

Random traffic over few client blocks and keys, with the clock stepping on (and now and
then back), a small table that must evict, every setting varied: both limiters must give
the same verdict for every response, the same counts, the same table size and the same
start/stop lines (a sweep's lines compared as a set: the two walk their tables in
different orders).
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter

import pytest

from geodns.answer import _native
from geodns.answer.native_rrl import NativeLimiter
from geodns.answer.rrl import ALL_KEY, ERROR_KEY, Category, RateLimiter, RrlConfig
from geodns.dns import names

SOURCES = ["10.0.0.1", "10.0.0.200", "10.0.1.7", "192.0.2.9", "2001:db8::1", "2001:db8:0:1::1"]
SOURCES += ["2001:db8:0:100::1", "::ffff:10.0.0.9", "198.51.100.1"]


def keys(rng: random.Random) -> list[bytes]:
    out = [ERROR_KEY]
    for i in range(6):
        category = rng.choice([Category.RESPONSE, Category.NODATA, Category.NXDOMAIN])
        name = names.from_text(f"n{i}.example.test.")
        qtype = b"\x00\x01" if category is Category.RESPONSE else b""
        out.append(bytes((category,)) + name + qtype)
    return out


def config(rng: random.Random) -> RrlConfig:
    return RrlConfig(
        responses_per_second=rng.choice([1, 2, 5]),
        nodata_per_second=rng.choice([None, 0, 3]),
        nxdomains_per_second=rng.choice([None, 1]),
        errors_per_second=rng.choice([None, 2]),
        all_per_second=rng.choice([0, 0, 8]),
        window_s=rng.choice([1, 2, 5]),
        slip=rng.choice([0, 1, 2, 3]),
        ipv4_prefix=rng.choice([24, 32, 16]),
        ipv6_prefix=rng.choice([56, 64]),
        exempt=rng.choice([(), ("192.0.2.0/24",), ("2001:db8::/64", "10.0.1.0/24")]),
        log_only=rng.random() < 0.2,
        max_entries=rng.choice([3, 8, 40]),
    )


@pytest.mark.parametrize("seed", range(12))
def test_the_c_table_limits_exactly_as_rrl_py_does(seed, caplog):
    caplog.set_level(logging.WARNING, logger="geodns.answer.rrl")
    rng = random.Random(seed)
    settings = config(rng)
    python = RateLimiter(settings)
    native = NativeLimiter(settings, _native.Engine(os.urandom(16), ()))
    known = keys(rng)
    now = 1_000_000
    python_lines: Counter[str] = Counter()
    native_lines: Counter[str] = Counter()
    for step in range(6000):
        if rng.random() < 0.004:
            now += rng.choice([1, 1, 2, 3, 7, 61, -1])  # and now and then back
        source, key = rng.choice(SOURCES), rng.choice(known)
        caplog.clear()
        expected = python.check(source, key, now)
        python_lines.update(r.getMessage() for r in caplog.records)
        caplog.clear()
        got = native.check(source, key, now)
        native_lines.update(r.getMessage() for r in caplog.records)
        assert got is expected, (step, source, key, now)
        if step % 500 == 0:
            assert native.size == python.size
    assert native.dropped == python.dropped and native.slipped == python.slipped
    assert native.size == python.size
    assert native_lines == python_lines
    limited = sum(python.dropped.values()) + sum(python.slipped.values())
    assert limited > 0  # the run limited, not only sent
    assert ALL_KEY not in known  # all_per_second's bucket is C's own, keyed like Python's


def test_a_table_of_one_entry_evicts_on_every_new_key_and_stays_correct():
    settings = RrlConfig(responses_per_second=1, slip=0, max_entries=1)
    python, native = RateLimiter(settings), NativeLimiter(settings, _native.Engine(bytes(16), ()))
    known = keys(random.Random(3))
    for step in range(2000):
        key = known[step % 3]
        assert native.check("10.0.0.1", key, 5) is python.check("10.0.0.1", key, 5)
    assert native.size == 1


def test_bad_settings_are_refused_by_the_engine():
    engine = _native.Engine(bytes(16), ())
    good = dict(
        rates=(1, 1, 1, 1, 1, 0), window=15, slip=2, ipv4_prefix=24, ipv6_prefix=56,
        exempt=b"", log_only=False, max_entries=100, all_key=1, error_key=2,
    )  # fmt: skip
    for changed in (
        {"rates": (1, 1)},
        {"rates": (1, 1, 1, 1, 1, -1)},
        {"window": 0},
        {"slip": -1},
        {"ipv4_prefix": 33},
        {"ipv6_prefix": 129},
        {"max_entries": 0},
        {"max_entries": 1 << 30},
        {"exempt": b"\x04" * 10},
    ):
        with pytest.raises((ValueError, TypeError)):
            engine.set_rrl(**{**good, **changed})
    engine.set_rrl(**good)
    assert engine.rrl_counters()["size"] == 0
    with pytest.raises(ValueError):
        engine.rrl_check("10.0.0.1", 7, 5, 100)  # category ALL: C's own
    with pytest.raises(ValueError):
        engine.rrl_check("not an address", 7, 0, 100)
