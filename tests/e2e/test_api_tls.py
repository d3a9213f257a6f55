"""The API of the real `geodns serve` over TLS (api_tls_cert / api_tls_key), and the
WARNING at start when it listens beyond loopback without TLS (issue 12 §4). The
certificate is made here, self-signed, with the cryptography package."""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from harness import SERVE_ZONES, GeodnsProcess, geodns_command, loopback_args, start_geodns

pytestmark = pytest.mark.e2e
NO_TLS_WARNING = "without TLS: tokens and pool data cross the network in clear text"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 key and a certificate for 127.0.0.1, valid for a day: (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "geodns test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "api.crt", directory / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def serve(tmp_path: Path, api: str, *extra: str) -> GeodnsProcess:
    zones = tmp_path / "zones"
    if not zones.exists():
        shutil.copytree(SERVE_ZONES, zones)
    return start_geodns(
        [
            *loopback_args(zones, f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}", api=api),
            "--no-geoip",
            *extra,
        ]
    )


def test_the_api_serves_https_with_the_given_certificate_and_only_https(tmp_path: Path):
    cert, key = self_signed(tmp_path)
    server = serve(tmp_path, "127.0.0.1:0", "--api-tls-cert", str(cert), "--api-tls-key", str(key))
    try:
        assert server.api.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(server.api + "/healthz", context=trusted, timeout=5) as reply:
            assert reply.status == 200
        token = geodns_command(
            "token",
            "create",
            "--role",
            "reader",
            "--name",
            "dash",
            "--database",
            f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}",
        ).stdout.strip()
        request = urllib.request.Request(
            server.api + "/api/v1/zones", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, context=trusted, timeout=5) as reply:
            zones = [zone["name"] for zone in json.loads(reply.read())["zones"]]
        assert zones == ["example.test.", "other.test."]
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(server.api + "/healthz", timeout=5)  # an unknown issuer
        plain = server.api.replace("https://", "http://")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(plain + "/healthz", timeout=5)  # no HTTP beside it
        assert NO_TLS_WARNING not in server.log()
    finally:
        assert server.stop() == 0


def test_a_certificate_without_its_key_or_an_unreadable_one_is_refused_at_start(tmp_path):
    cert, _ = self_signed(tmp_path)
    zones = tmp_path / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    alone = geodns_command("serve", "--zones", str(zones), "--api-tls-cert", str(cert))
    assert alone.returncode == 1
    assert alone.stderr.strip().splitlines()[-1] == (
        "geodns: invalid setting: api_tls_cert and api_tls_key: give both (HTTPS) or neither (HTTP)"
    )
    missing = tmp_path / "missing.key"
    bad = geodns_command(
        "serve",
        "--zones",
        str(zones),
        "--dns",
        "127.0.0.1:0",
        "--api",
        "127.0.0.1:0",
        "--database",
        f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}",
        "--api-tls-cert",
        str(cert),
        "--api-tls-key",
        str(missing),
    )
    assert bad.returncode == 1
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"geodns: api_tls_cert {cert} / api_tls_key {missing}: cannot load the certificate "
        "and key: "
    ), bad.stderr
    assert "listening" not in bad.stderr  # refused before anything bound


def test_a_plain_api_beyond_loopback_is_a_warning_at_start_and_loopback_is_not(tmp_path):
    loopback = serve(tmp_path / "a", "127.0.0.1:0")
    try:
        assert NO_TLS_WARNING not in loopback.log()
    finally:
        loopback.stop()
    # every address, port 0: nothing connects to it but this test, over loopback
    exposed = serve(tmp_path / "b", "0.0.0.0:0")
    try:
        line = exposed.wait_for_log(NO_TLS_WARNING).string
        # the port it is bound to, which an operator can check, not the 0 it asked for
        bound = exposed.api.removeprefix("http://")
        assert bound.startswith("0.0.0.0:") and not bound.endswith(":0")
        assert f" WARNING geodns.app api listens on {bound} without TLS" in line
        assert exposed.log().count(NO_TLS_WARNING) == 1
    finally:
        assert exposed.stop() == 0
