"""Zone keys: DNSKEY rdata, key tags and DS digests agree with dnspython; signatures verify."""

from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from geodns.dns import names
from geodns.dnssec.keys import (
    Algorithm,
    KeyMaterialError,
    generate_private_key,
    load_signing_key,
)

ALGORITHMS = [Algorithm.ECDSAP256SHA256, Algorithm.ED25519]
ORIGIN = names.from_text("example.test.")


def dnskey(rdata: bytes) -> dns.rdata.Rdata:
    return dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, rdata, 0, len(rdata))


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_dnskey_is_a_csk_with_protocol_3_rfc4034_s2_1(algorithm: Algorithm) -> None:
    key = load_signing_key(algorithm, generate_private_key(algorithm))
    parsed = dnskey(key.public.rdata)
    assert (parsed.flags, parsed.protocol, parsed.algorithm) == (257, 3, int(algorithm))
    assert len(parsed.key) == (64 if algorithm is Algorithm.ECDSAP256SHA256 else 32)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_key_tag_matches_dnspython_rfc4034_appendix_b(algorithm: Algorithm) -> None:
    for _ in range(20):
        key = load_signing_key(algorithm, generate_private_key(algorithm))
        assert key.public.tag == dns.dnssec.key_id(dnskey(key.public.rdata))


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_ds_sha256_matches_dnspython_rfc4509(algorithm: Algorithm) -> None:
    key = load_signing_key(algorithm, generate_private_key(algorithm))
    expected = dns.dnssec.make_ds(
        dns.name.from_text("Example.TEST."), dnskey(key.public.rdata), "SHA256"
    )
    # the owner is lowered whatever case it comes in (RFC 4034 §5.1.4: canonical owner)
    assert key.public.ds_rdata(names.from_text_preserving_case("Example.TEST.")) == (
        expected.to_wire()
    )


def test_ds_refuses_digests_other_than_sha256() -> None:
    key = load_signing_key(Algorithm.ED25519, generate_private_key(Algorithm.ED25519))
    with pytest.raises(ValueError, match="only SHA-256"):
        key.public.ds_rdata(ORIGIN, 1)


def test_ecdsa_signatures_are_deterministic_rfc6979() -> None:
    pkcs8 = generate_private_key(Algorithm.ECDSAP256SHA256)
    first, second = (
        load_signing_key(Algorithm.ECDSAP256SHA256, pkcs8),
        load_signing_key(Algorithm.ECDSAP256SHA256, pkcs8),
    )
    assert first.sign(b"same data") == second.sign(b"same data")
    assert first.sign(b"same data") != first.sign(b"other data")
    assert len(first.sign(b"x")) == 64  # r || s, RFC 6605 §4


@pytest.mark.parametrize(
    "stored, claimed, message",
    [
        (Algorithm.ED25519, Algorithm.ECDSAP256SHA256, "not an ECDSA P-256 key"),
        (Algorithm.ECDSAP256SHA256, Algorithm.ED25519, "not an Ed25519 key"),
    ],
    ids=["ed25519-as-13", "ecdsa-as-15"],
)
def test_a_key_of_another_algorithm_is_refused(
    stored: Algorithm, claimed: Algorithm, message: str
) -> None:
    with pytest.raises(KeyMaterialError, match=message):
        load_signing_key(claimed, generate_private_key(stored))


def test_garbage_key_bytes_are_refused() -> None:
    with pytest.raises(KeyMaterialError, match="unreadable"):
        load_signing_key(Algorithm.ED25519, b"not a key")


def test_repr_never_shows_the_private_key() -> None:
    pkcs8 = generate_private_key(Algorithm.ED25519)
    key = load_signing_key(Algorithm.ED25519, pkcs8)
    assert repr(key) == f"SigningKey(tag={key.public.tag}, algorithm=ED25519)"
