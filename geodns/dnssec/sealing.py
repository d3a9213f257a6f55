"""Private keys sealed at rest: AES-256-GCM under a key derived from dnssec_key_secret.

No I/O but the random salt and nonce a new seal draws; the control plane's alone (the
data plane gets keys already opened). A sealed key is "GDK1" + salt (16) + nonce (12) +
ciphertext and tag. The encryption key is HKDF-SHA256 (RFC 5869) of the secret with the
key's own random salt; the associated data binds the blob to its zone and public key, so
a blob copied to another zone's row, or a row whose public key was changed, does not
open. HKDF is not a password hash: the secret must be random (settings asks for 32
characters or more, and `geodns dnssec secret` prints a 256-bit one), which leaves
nothing to guess, as for the API tokens in geodns.auth.
"""

from __future__ import annotations

import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from geodns.errors import GeodnsError

MAGIC = b"GDK1"
SALT_BYTES = 16
NONCE_BYTES = 12  # the GCM standard nonce; random, under a key used for one blob only
MIN_SECRET_CHARS = 32
_INFO = b"geodns dnssec private key v1"


class SealError(GeodnsError):
    """A sealed key that does not open: the secret differs from the one that sealed it, or
    the row was altered."""


def new_secret() -> str:
    """A fresh 256-bit secret in URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def _key(secret: str, salt: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO)
    return hkdf.derive(secret.encode("utf-8"))


def associated_data(zone: bytes, public_rdata: bytes) -> bytes:
    """What a sealed key is bound to: its zone (lowercase wire name) and DNSKEY rdata."""
    return b"geodns dnssec key\x00" + zone.lower() + b"\x00" + public_rdata


def seal(secret: str, private: bytes, aad: bytes) -> bytes:
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + salt + nonce + AESGCM(_key(secret, salt)).encrypt(nonce, private, aad)


def unseal(secret: str, sealed: bytes, aad: bytes) -> bytes:
    """The private key bytes; SealError for a wrong secret, an altered row or bad format."""
    head = len(MAGIC) + SALT_BYTES + NONCE_BYTES
    if not sealed.startswith(MAGIC) or len(sealed) <= head:
        raise SealError("sealed key is not in a format this geodns knows (expected GDK1)")
    salt = sealed[len(MAGIC) : len(MAGIC) + SALT_BYTES]
    nonce = sealed[len(MAGIC) + SALT_BYTES : head]
    try:
        return AESGCM(_key(secret, salt)).decrypt(nonce, sealed[head:], aad)
    except InvalidTag:
        raise SealError(
            "the private key does not open with this dnssec_key_secret: it was sealed with "
            "another secret (or its row was altered)"
        ) from None
