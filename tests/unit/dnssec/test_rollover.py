"""A CSK rollover as every node computes it from the stored times (RFC 6781 §4.1.1.1,
RFC 7583 §3.3): pre-publish, switch after DNSKEY TTL + propagation, removal after the
parent's DS changed; an algorithm change is refused (RFC 6781 §4.1.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geodns.dnssec.keys import Algorithm, SigningKey, generate_private_key, load_signing_key
from geodns.dnssec.rollover import (
    KeyTimes,
    Phase,
    Policy,
    RolloverRefused,
    check_rollover,
    confirm_ds_replaced,
    first_key,
    next_change,
    start_rollover,
    zone_keys_at,
    zone_status,
)

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
POLICY = Policy("example.test.", Algorithm.ECDSAP256SHA256, 3600, 300, 86400)


def new_key() -> SigningKey:
    return load_signing_key(Algorithm.ECDSAP256SHA256, generate_private_key(POLICY.algorithm))


OLD, NEW = new_key(), new_key()
OPENED = {1: OLD, 2: NEW}


def test_an_enabled_zone_signs_with_its_first_key_at_once() -> None:
    times = [first_key(1, OLD.public, T0)]
    keys = zone_keys_at(times, OPENED, T0)
    assert keys is not None
    assert (keys.signing, keys.dnskey_only, keys.published, keys.submitted) == (
        (OLD,),
        (),
        (OLD,),
        (OLD,),
    )
    assert zone_status(POLICY, times, T0).step == "signed"
    assert next_change(times, T0) is None


def test_a_rollover_walks_through_its_steps() -> None:
    first = first_key(1, OLD.public, T0)
    start = T0 + timedelta(days=30)
    old = check_rollover(POLICY, [first], None, start)
    assert old == first
    old, new = start_rollover(POLICY, old, 2, NEW.public, start)
    times = [old, new]
    switch = start + timedelta(seconds=3600 + 300)

    # 1. pre-publish: both published, old signs data, both sign the DNSKEY RRset
    keys = zone_keys_at(times, OPENED, start)
    assert keys is not None
    assert keys.signing == (OLD,) and keys.dnskey_only == (NEW,) and keys.submitted == (OLD,)
    status = zone_status(POLICY, times, start)
    assert status.step == "pre-publish" and status.next_at == switch
    assert [s.phase for s in status.keys] == [Phase.ACTIVE, Phase.PUBLISHED]
    with pytest.raises(RolloverRefused, match="must not move to it before then"):
        confirm_ds_replaced(POLICY, times, start)
    with pytest.raises(RolloverRefused, match="in a rollover already"):
        check_rollover(POLICY, times, None, start)

    # 2. switched: new signs data and is offered as CDS; old signs the DNSKEY RRset only
    assert next_change(times, start) == switch
    keys = zone_keys_at(times, OPENED, switch)
    assert keys is not None
    assert keys.signing == (NEW,) and keys.dnskey_only == (OLD,) and keys.submitted == (NEW,)
    status = zone_status(POLICY, times, switch)
    assert status.step == "switched" and "--ds-replaced" in status.next_step
    assert next_change(times, switch) is None  # waits for the operator

    # 3. the parent has the new DS: the old key goes after the DS TTL + propagation
    confirmed = switch + timedelta(hours=5)
    old = confirm_ds_replaced(POLICY, times, confirmed)
    times = [old, new]
    removal = confirmed + timedelta(seconds=86400 + 300)
    assert old.remove_at == removal and next_change(times, confirmed) == removal
    assert zone_status(POLICY, times, confirmed).step == "removing"
    keys = zone_keys_at(times, OPENED, removal)
    assert keys is not None
    assert (keys.signing, keys.dnskey_only, keys.published) == ((NEW,), (), (NEW,))
    assert zone_status(POLICY, times, removal).step == "signed"
    assert check_rollover(POLICY, times, None, removal) == new  # the next one may start


def test_an_algorithm_change_is_refused_naming_rfc6781() -> None:
    with pytest.raises(RolloverRefused, match=r"RFC 6781 §4.1.4"):
        check_rollover(POLICY, [first_key(1, OLD.public, T0)], Algorithm.ED25519, T0)


def test_the_same_algorithm_named_explicitly_is_fine() -> None:
    first = first_key(1, OLD.public, T0)
    assert check_rollover(POLICY, [first], Algorithm.ECDSAP256SHA256, T0) == first


def test_ds_replaced_outside_a_rollover_is_refused() -> None:
    with pytest.raises(RolloverRefused, match="no key waiting"):
        confirm_ds_replaced(POLICY, [first_key(1, OLD.public, T0)], T0)


def test_a_zone_whose_keys_are_all_in_the_future_signs_nothing() -> None:
    times = [KeyTimes(1, OLD.public, T0, T0)]
    assert zone_keys_at(times, OPENED, T0 - timedelta(seconds=1)) is None


def test_waits_follow_the_policy() -> None:
    assert POLICY.publish_wait == timedelta(seconds=3900)
    assert POLICY.removal_wait == timedelta(seconds=86700)
    short_ds = Policy("example.test.", Algorithm.ED25519, 7200, 60, 600)
    assert short_ds.removal_wait == timedelta(seconds=7260)  # the DNSKEY TTL is longer
