"""Rates: per-pool queries per second and per-member answers over the last minute, from
samples of plain counters."""

from __future__ import annotations

from collections import Counter

from geodns.rates import Rates, sample_of

WWW = "www.example.test."


def answered(www: int, api: int = 0) -> Counter[tuple[int, int, str, str]]:
    counts: Counter[tuple[int, int, str, str]] = Counter()
    counts[(0, 1, "udp", WWW)] = www // 2
    counts[(0, 28, "tcp", WWW)] = www - www // 2  # every rcode, type and transport adds up
    counts[(0, 1, "udp", "api.example.test.")] = api
    counts[(3, 1, "udp", "")] = 999  # not a pool
    return counts


def test_no_rate_before_two_samples() -> None:
    rates = Rates()
    assert (rates.pool_qps(WWW), rates.member_answers(WWW, "192.0.2.1"), rates.span_s) == (
        None,
        None,
        0.0,
    )
    rates.add(sample_of(0.0, answered(0), {}))
    assert rates.pool_qps(WWW) is None


def test_rates_are_the_difference_over_the_span_and_forget_past_the_window() -> None:
    rates = Rates(window_s=60)
    for second in range(0, 125, 5):  # 10 answers a second for www, members split 3:1
        total = second * 10
        members = {f"{WWW} 192.0.2.1": total * 3 // 4, f"{WWW} 192.0.2.2": total // 4}
        redirects = {(WWW, "192.0.2.1", 302): second, (WWW, "", 503): 7 * second}
        rates.add(sample_of(float(second), answered(total, api=second), members, redirects))
    assert rates.span_s == 60.0
    assert rates.pool_qps(WWW) == 10.0
    assert rates.pool_qps("api.example.test.") == 1.0
    assert rates.pool_qps("gone.example.test.") == 0.0
    assert rates.redirects_ps(WWW) == 1.0  # 302s only
    assert rates.member_answers(WWW, "192.0.2.1") == 450
    assert rates.member_answers(WWW, "192.0.2.2") == 150
    assert len(rates.samples) == 13


def test_a_counter_that_starts_over_never_gives_a_negative_rate() -> None:
    rates = Rates()
    rates.add(sample_of(0.0, answered(500), {f"{WWW} 192.0.2.1": 500}))
    rates.add(sample_of(5.0, answered(20), {f"{WWW} 192.0.2.1": 20}))
    assert rates.pool_qps(WWW) == 0.0
    assert rates.member_answers(WWW, "192.0.2.1") == 0
