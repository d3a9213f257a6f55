"""Signatures made by hand (RFC 4034 §3.1.8.1) validate with dnspython; windows are fixed
weekly epochs; the cache keeps what it signed and stays within its bound."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import dns.dnssec
import pytest
from dnssec_checks import validate
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns import names
from geodns.dnssec.keys import Algorithm, SigningKey, generate_private_key, load_signing_key
from geodns.dnssec.nsec import compact_denial, nsec_rdata, successor
from geodns.dnssec.rrsig import WEEK_S, validity_at
from geodns.dnssec.signer import SignatureCache, ZoneKeys, ZoneSigner

ORIGIN = names.from_text("example.test.")
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC).timestamp()  # a Wednesday
ALGORITHMS = [Algorithm.ECDSAP256SHA256, Algorithm.ED25519]


def new_key(algorithm: Algorithm = Algorithm.ECDSAP256SHA256) -> SigningKey:
    return load_signing_key(algorithm, generate_private_key(algorithm))


def signer_for(*keys: SigningKey, cache: SignatureCache | None = None) -> ZoneSigner:
    zone_keys = ZoneKeys(keys, (), keys, keys)
    return ZoneSigner(ORIGIN, zone_keys, cache if cache is not None else SignatureCache())


A_RDATAS = (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]), bytes([192, 0, 2, 3]))
MX_MIXED_CASE = (struct.pack("!H", 10) + names.from_text_preserving_case("Mail.Example.TEST."),)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
@pytest.mark.parametrize(
    "owner, rtype, rdatas",
    [
        ("www.example.test.", 1, A_RDATAS),
        ("example.test.", 15, MX_MIXED_CASE),
        ("www.example.test.", 1, tuple(reversed(A_RDATAS))),  # any order: signed sorted
    ],
    ids=["a-rrset", "mx-mixed-case", "unsorted"],
)
def test_signed_rrset_validates_with_dnspython(
    algorithm: Algorithm, owner: str, rtype: int, rdatas: tuple[bytes, ...]
) -> None:
    key = new_key(algorithm)
    [rrsig] = signer_for(key).sign(names.from_text(owner), rtype, 300, rdatas, NOW)
    validate(names.from_text(owner), rtype, 300, rdatas, [rrsig], ORIGIN, [key], NOW)


def test_a_changed_rdata_does_not_validate() -> None:
    key = new_key()
    owner = names.from_text("www.example.test.")
    [rrsig] = signer_for(key).sign(owner, 1, 300, A_RDATAS, NOW)
    with pytest.raises(dns.dnssec.ValidationFailure):
        validate(owner, 1, 300, A_RDATAS[:2], [rrsig], ORIGIN, [key], NOW)


def test_wildcard_signature_validates_for_any_expansion_rfc4035_s5_3_2() -> None:
    key = new_key()
    wildcard = names.from_text("*.example.test.")
    [rrsig] = signer_for(key).sign(wildcard, 1, 300, A_RDATAS[:1], NOW)
    assert rrsig[3] == 2  # Labels: "example.test", the "*" left out
    for expansion in ("a.example.test.", "deep.er.example.test."):
        validate(names.from_text(expansion), 1, 300, A_RDATAS[:1], [rrsig], ORIGIN, [key], NOW)


def test_compact_denial_nsec_validates_rfc9824_s3() -> None:
    key = new_key()
    qname = names.from_text("absent.example.test.")
    rdata = nsec_rdata(successor(qname), compact_denial([], exists=False))
    [rrsig] = signer_for(key).sign(qname, 47, 300, (rdata,), NOW)
    validate(qname, 47, 300, (rdata,), [rrsig], ORIGIN, [key], NOW)


def test_dnskey_rrset_is_signed_by_dnskey_only_keys_too() -> None:
    old, new = new_key(), new_key()
    keys = ZoneKeys(signing=(new,), dnskey_only=(old,), published=(old, new), submitted=(new,))
    signer = ZoneSigner(ORIGIN, keys, SignatureCache())
    rrsigs = signer.sign(ORIGIN, 48, 3600, signer.dnskey_rdatas(), NOW)
    assert {struct.unpack("!H", r[16:18])[0] for r in rrsigs} == {old.public.tag, new.public.tag}
    for rrsig, key in zip(rrsigs, (new, old), strict=True):
        validate(ORIGIN, 48, 3600, signer.dnskey_rdatas(), [rrsig], ORIGIN, [key], NOW)
    [data_sig] = signer.sign(names.from_text("www.example.test."), 1, 300, A_RDATAS, NOW)
    assert struct.unpack("!H", data_sig[16:18])[0] == new.public.tag


def test_cds_and_cdnskey_offer_the_submitted_keys_rfc7344() -> None:
    old, new = new_key(), new_key()
    keys = ZoneKeys(signing=(new,), dnskey_only=(old,), published=(old, new), submitted=(new,))
    signer = ZoneSigner(ORIGIN, keys, SignatureCache())
    assert signer.cdnskey_rdatas() == (new.public.rdata,)
    assert signer.cds_rdatas() == (new.public.ds_rdata(ORIGIN),)


def test_two_signers_with_the_same_key_make_identical_signatures() -> None:
    pkcs8 = generate_private_key(Algorithm.ECDSAP256SHA256)
    one = signer_for(load_signing_key(Algorithm.ECDSAP256SHA256, pkcs8))
    two = signer_for(load_signing_key(Algorithm.ECDSAP256SHA256, pkcs8))
    owner = names.from_text("www.example.test.")
    later_same_week = NOW + 3600
    assert one.sign(owner, 1, 300, A_RDATAS, NOW) == two.sign(
        owner, 1, 300, A_RDATAS, later_same_week
    )


def test_the_cache_signs_each_rrset_once_per_week() -> None:
    cache = SignatureCache()
    signer = signer_for(new_key(), cache=cache)
    owner = names.from_text("www.example.test.")
    first = signer.sign(owner, 1, 300, A_RDATAS, NOW)
    assert signer.sign(owner, 1, 300, A_RDATAS, NOW + 60) is first
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    next_week = signer.sign(owner, 1, 300, A_RDATAS, NOW + WEEK_S)
    assert next_week != first and len(cache) == 2
    assert signer.sign(owner, 1, 60, A_RDATAS, NOW) != first  # the TTL is signed too


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    cache = SignatureCache(max_entries=3)
    signer = signer_for(new_key(Algorithm.ED25519), cache=cache)
    owners = [names.from_text(f"n{i}.example.test.") for i in range(5)]
    for owner in owners:
        signer.sign(owner, 1, 300, A_RDATAS, NOW)
    assert (len(cache), cache.evictions) == (3, 2)
    signer.sign(owners[4], 1, 300, A_RDATAS, NOW)
    signer.sign(owners[0], 1, 300, A_RDATAS, NOW)
    assert (cache.hits, cache.misses) == (1, 6)
    assert cache.approximate_bytes() > 3 * 64


def test_zone_signer_needs_a_signing_key() -> None:
    with pytest.raises(ValueError, match="at least one signing key"):
        ZoneSigner(ORIGIN, ZoneKeys(()), SignatureCache())


@given(st.integers(min_value=1_000_000_000, max_value=4_000_000_000))
def test_validity_windows_are_weekly_epochs_with_a_week_either_side(now: int) -> None:
    window = validity_at(now)
    assert window.inception <= now - WEEK_S  # back-dated a week: far more than an hour
    assert window.expiration > now + WEEK_S - 1
    assert window.expiration - window.inception == 3 * WEEK_S
    monday = datetime.fromtimestamp(window.inception, UTC)
    assert (monday.weekday(), monday.hour, monday.minute, monday.second) == (0, 0, 0, 0)
    assert validity_at(window.inception + WEEK_S) == window  # the same all week
    assert validity_at(window.inception + 2 * WEEK_S - 1) == window
