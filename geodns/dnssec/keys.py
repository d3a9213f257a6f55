"""Zone keys: DNSKEY rdata, key tags, DS digests, and signing with the `cryptography` package.

Pure: no I/O (a new key's randomness comes from the operating system's generator, as
`cryptography` draws it). One combined signing key (CSK, flags 257) per zone signs every
RRset. ECDSA signatures are deterministic (RFC 6979), so every node holding the same key
makes byte-identical RRSIGs for the same data; Ed25519 (RFC 8032) is deterministic anyway.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from geodns.errors import GeodnsError

FLAGS_CSK = 257  # ZONE + SEP (RFC 4034 §2.1.1, RFC 3757): one key for the DNSKEY set and data
PROTOCOL = 3  # RFC 4034 §2.1.2: always 3
DIGEST_SHA256 = 2  # RFC 4509


class Algorithm(enum.IntEnum):
    """The signing algorithms geodns offers (IANA DNS Security Algorithm Numbers)."""

    ECDSAP256SHA256 = 13  # RFC 6605: the default
    ED25519 = 15  # RFC 8080


class KeyMaterialError(GeodnsError):
    """Stored private key bytes that are not a key of the algorithm they claim to be."""


_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def key_tag(dnskey_rdata: bytes) -> int:
    """RFC 4034 Appendix B: the 16-bit checksum validators use to pick a key."""
    total = 0
    for i, byte in enumerate(dnskey_rdata):
        total += byte if i & 1 else byte << 8
    total += (total >> 16) & 0xFFFF
    return total & 0xFFFF


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A DNSKEY: flags, algorithm and the public key field in its DNS form."""

    algorithm: Algorithm
    key: bytes  # ECDSA: x || y (64 bytes, RFC 6605 §4); Ed25519: 32 bytes (RFC 8080 §3)
    flags: int = FLAGS_CSK
    rdata: bytes = field(init=False, repr=False)
    tag: int = field(init=False)

    def __post_init__(self) -> None:
        rdata = struct.pack("!HBB", self.flags, PROTOCOL, self.algorithm) + self.key
        object.__setattr__(self, "rdata", rdata)
        object.__setattr__(self, "tag", key_tag(rdata))

    def ds_rdata(self, owner: bytes, digest_type: int = DIGEST_SHA256) -> bytes:
        """The DS (and CDS) rdata for this key at owner (a lowercase wire name), RFC 4034 §5.1.4."""
        if digest_type != DIGEST_SHA256:
            raise ValueError(f"digest type {digest_type}: only SHA-256 (2) is offered")
        digest = hashlib.sha256(owner.lower() + self.rdata).digest()
        return struct.pack("!HBB", self.tag, self.algorithm, digest_type) + digest


class SigningKey:
    """A zone key with its private half; sign() returns the RRSIG signature field."""

    __slots__ = ("public", "_private", "_ecdsa")

    def __init__(
        self, public: PublicKey, private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ) -> None:
        self.public = public
        self._private = private
        self._ecdsa = isinstance(private, ec.EllipticCurvePrivateKey)

    def __repr__(self) -> str:  # never the private key
        return f"SigningKey(tag={self.public.tag}, algorithm={self.public.algorithm.name})"

    def sign(self, data: bytes) -> bytes:
        private = self._private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            # RFC 6605 §4: r and s as two 32-byte big-endian integers, not DER
            r, s = decode_dss_signature(private.sign(data, _ECDSA))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return private.sign(data)


def generate_private_key(algorithm: Algorithm) -> bytes:
    """A new private key as unencrypted PKCS #8 DER (the caller seals it before storing)."""
    private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if algorithm is Algorithm.ECDSAP256SHA256:
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_signing_key(algorithm: Algorithm, pkcs8: bytes, flags: int = FLAGS_CSK) -> SigningKey:
    """PKCS #8 DER -> SigningKey; KeyMaterialError when the bytes are not such a key."""
    try:
        private = serialization.load_der_private_key(pkcs8, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(f"stored private key is unreadable: {exc}") from None
    if algorithm is Algorithm.ECDSAP256SHA256:
        if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
            private.curve, ec.SECP256R1
        ):
            raise KeyMaterialError("stored key is not an ECDSA P-256 key (algorithm 13)")
        numbers = private.public_key().public_numbers()
        key = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
        return SigningKey(PublicKey(algorithm, key, flags), private)
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise KeyMaterialError("stored key is not an Ed25519 key (algorithm 15)")
    key = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return SigningKey(PublicKey(algorithm, key, flags), private)
