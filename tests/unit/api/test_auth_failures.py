"""Bad tokens per address (geodns.api.auth_failures): the limit, the window, the bound."""

from __future__ import annotations

from geodns.api.auth_failures import AuthFailures


def test_the_limit_th_bad_token_closes_the_address_until_its_window_ends():
    failures = AuthFailures(limit=3, window_s=60)
    assert [failures.failed("192.0.2.1", t) for t in (0, 1, 2)] == [False, False, True]
    assert failures.retry_after_s("192.0.2.1", 2.5) == 58  # whole seconds, rounded up
    assert failures.retry_after_s("192.0.2.2", 2.5) is None  # another address: open
    assert failures.failed("192.0.2.1", 3) is False  # counted on, logged once
    assert failures.retry_after_s("192.0.2.1", 59.9) == 1
    assert failures.retry_after_s("192.0.2.1", 60) is None  # a new window


def test_failures_spread_over_more_than_a_window_never_close_an_address():
    failures = AuthFailures(limit=3, window_s=60)
    for t in (0, 30, 61, 90, 122):
        failures.failed("192.0.2.1", t)
    assert failures.retry_after_s("192.0.2.1", 122) is None


def test_the_table_keeps_the_addresses_seen_last():
    failures = AuthFailures(limit=1, window_s=60, max_addresses=2)
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        failures.failed(address, 0)
    assert failures.retry_after_s("192.0.2.1", 1) is None  # dropped first
    assert failures.retry_after_s("192.0.2.3", 1) == 59
