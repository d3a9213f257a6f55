"""Sealed private keys open with their secret and their zone's binding only."""

from __future__ import annotations

import pytest

from geodns.dns import names
from geodns.dnssec.sealing import SealError, associated_data, new_secret, seal, unseal

ZONE = names.from_text("example.test.")
SECRET = new_secret()
AAD = associated_data(ZONE, b"\x01\x01\x03\x0dpublic")


def test_a_sealed_key_opens_with_its_secret() -> None:
    sealed = seal(SECRET, b"private key bytes", AAD)
    assert b"private key bytes" not in sealed
    assert unseal(SECRET, sealed, AAD) == b"private key bytes"


def test_two_seals_of_one_key_differ() -> None:
    assert seal(SECRET, b"k", AAD) != seal(SECRET, b"k", AAD)  # fresh salt and nonce


@pytest.mark.parametrize(
    "secret, aad",
    [
        (new_secret(), AAD),
        (SECRET, associated_data(names.from_text("other.test."), b"\x01\x01\x03\x0dpublic")),
        (SECRET, associated_data(ZONE, b"\x01\x01\x03\x0dchanged")),
    ],
    ids=["another-secret", "another-zone", "another-public-key"],
)
def test_a_sealed_key_does_not_open_otherwise(secret: str, aad: bytes) -> None:
    sealed = seal(SECRET, b"private key bytes", AAD)
    with pytest.raises(SealError, match="does not open with this dnssec_key_secret"):
        unseal(secret, sealed, aad)


def test_a_tampered_blob_does_not_open() -> None:
    sealed = bytearray(seal(SECRET, b"private key bytes", AAD))
    sealed[-1] ^= 1
    with pytest.raises(SealError):
        unseal(SECRET, bytes(sealed), AAD)


def test_an_unknown_format_is_named() -> None:
    with pytest.raises(SealError, match="expected GDK1"):
        unseal(SECRET, b"XXXX" + bytes(40), AAD)


def test_new_secrets_are_long_and_distinct() -> None:
    assert len(new_secret()) >= 32 and new_secret() != new_secret()
