"""DNSSEC end to end, judged by real validators on loopback: the geodns process signs
tests/data/dnssec with a key `geodns dnssec enable` put in the database; delv and an
Unbound resolver (in front of geodns, ECS on) validate its answers with the zone's key as
trust anchor, dnsviz finds no error, ldns-verify-zone checks the static signatures; two
nodes on one database sign byte for byte alike; a rollover runs its steps while
validators keep validating; a node without the secret fails DO queries and says why."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from harness import DATA, MAXMIND, ROOT, GeodnsProcess, clean_environ, start_geodns

pytestmark = pytest.mark.e2e
ZONES = DATA / "dnssec"
SECRET = "e2e-secret-" + "s" * 32
ZONE = "signed.test."


def geodns(database: str, *args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = clean_environ({"GEODNS_DATABASE_URL": database, "GEODNS_DNSSEC_KEY_SECRET": secret})
    done = subprocess.run(
        [sys.executable, "-m", "geodns", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


@dataclass
class Signed:
    """A signed zone served by geodns, and how to reach and trust it."""

    server: GeodnsProcess
    database: str
    zones: Path
    workdir: Path

    def dnskeys(self) -> list[str]:
        """The DNSKEY RRset's rdata as served (presentation format)."""
        reply = self.server.query(ZONE, "DNSKEY")
        return [r.to_text() for rrset in reply.answer for r in rrset]

    def delv(self, name: str, rdtype: str, anchors: list[str] | None = None) -> str:
        anchors = anchors if anchors is not None else self.dnskeys()
        conf = self.workdir / "anchors.conf"
        lines = []
        for anchor in anchors:
            flags, protocol, algorithm, *key = anchor.split()
            lines.append(f'  {ZONE} static-key {flags} {protocol} {algorithm} "{"".join(key)}";')
        conf.write_text("trust-anchors {\n" + "\n".join(lines) + "\n};\n")
        done = subprocess.run(
            [
                "delv",
                f"@{self.server.host}",
                "-p",
                str(self.server.port),
                "-a",
                str(conf),
                f"+root={ZONE}",
                name,
                rdtype,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout + done.stderr


def start_node(
    signed_zones: Path, database: str, address: str = "127.0.0.1", **env: str
) -> GeodnsProcess:
    return start_geodns(
        [
            "--dns",
            f"{address}:0",
            "--api",
            "off",
            "--zones",
            str(signed_zones),
            "--database",
            database,
            "--geoip-db",
            str(MAXMIND / "GeoIP2-City-Test.mmdb"),
        ],
        env={"GEODNS_DNSSEC_KEY_SECRET": SECRET, **env},
        ready_name=ZONE,
    )


def prepare(tmp_path: Path, database: str, *enable: str) -> Path:
    zones = tmp_path / "zones"
    shutil.copytree(ZONES, zones, ignore=shutil.ignore_patterns("*.yaml"))
    geodns(database, "pools", "apply", str(ZONES / "pools.yaml"), "--zones", str(zones))
    geodns(database, "dnssec", "enable", ZONE, "--zones", str(zones), *enable)
    return zones


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    """One node on SQLite: what the validators judge does not depend on the database (the
    two-node test below runs on PostgreSQL too)."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    zones = prepare(tmp_path, database)
    server = start_node(zones, database)
    try:
        yield Signed(server, database, zones, tmp_path)
    finally:
        server.stop()


VALIDATED = [
    ("www.signed.test.", "A"),
    ("signed.test.", "MX"),
    ("signed.test.", "DNSKEY"),
    ("signed.test.", "CDS"),
    ("weighted.signed.test.", "A"),
    ("weighted.signed.test.", "AAAA"),
    ("geo.signed.test.", "A"),
    ("failover.signed.test.", "A"),
    ("chain.signed.test.", "A"),
    ("to-pool.signed.test.", "A"),
    ("x.wild.signed.test.", "A"),
    ("deep.x.wild.signed.test.", "TXT"),
    ("any.cw.signed.test.", "A"),
    ("secure.signed.test.", "DS"),
    ("www.moved.signed.test.", "A"),  # RFC 6672 §5.3.1: the DNAME signed, its CNAME not
]
DENIED = [
    ("nowhere.signed.test.", "A"),  # a name that does not exist: compact denial
    ("www.signed.test.", "MX"),  # NODATA
    ("b.ent.signed.test.", "A"),  # an empty non-terminal
    ("x.wild.signed.test.", "MX"),  # NODATA below a wildcard
    ("insecure.signed.test.", "DS"),  # the proof that a delegation is insecure
    ("closed.signed.test.", "A"),  # no such pool here: does not exist
]


@pytest.mark.slow
def test_delv_validates_every_kind_of_answer_with_the_trust_anchor(signed: Signed) -> None:
    for name, rdtype in VALIDATED:
        out = signed.delv(name, rdtype)
        assert "; fully validated" in out, (name, rdtype, out)
    for name, rdtype in DENIED:
        out = signed.delv(name, rdtype)
        assert "; negative response, fully validated" in out, (name, rdtype, out)
    # and delv does fail an answer it cannot validate: the wrong trust anchor
    wrong = signed.dnskeys()[0][:-8] + "AAAAAAA="
    assert "fully validated" not in signed.delv("www.signed.test.", "A", [wrong])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unbound(signed: Signed) -> Iterator[Callable[..., dns.message.Message]]:
    """Unbound on loopback, validating with the zone's key and sending ECS to geodns."""
    port = free_port()
    anchors = "\n".join(f'    trust-anchor: "{ZONE} DNSKEY {k}"' for k in signed.dnskeys())
    conf = signed.workdir / "unbound.conf"
    conf.write_text(
        f"""server:
    interface: 127.0.0.1
    port: {port}
    username: ""
    chroot: ""
    directory: "{signed.workdir}"
    pidfile: ""
    use-syslog: no
    verbosity: 1
    do-not-query-localhost: no
    module-config: "subnetcache validator iterator"
    send-client-subnet: {signed.server.host}
    max-client-subnet-ipv4: 24
{anchors}
    access-control: 127.0.0.0/8 allow
    root-hints: ""
    local-zone: "test." nodefault
stub-zone:
    name: "{ZONE}"
    stub-addr: {signed.server.host}@{signed.server.port}
"""
    )
    process = subprocess.Popen(
        ["unbound", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    def ask(name: str, rdtype: str = "A", ecs: str | None = None) -> dns.message.Message:
        options = [dns.edns.ECSOption.from_text(ecs)] if ecs else []
        query = dns.message.make_query(name, rdtype, want_dnssec=True, options=options)
        return dns.query.udp(query, "127.0.0.1", port=port, timeout=5)

    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                ask(ZONE, "SOA")
                break
            except (OSError, dns.exception.Timeout):
                assert process.poll() is None and time.monotonic() < deadline, "unbound died"
                time.sleep(0.1)
        yield ask
    finally:
        process.terminate()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


@pytest.mark.slow
def test_unbound_in_front_of_geodns_validates_and_keeps_per_region_answers(unbound) -> None:
    for name, rdtype in VALIDATED + DENIED:
        reply = unbound(name, rdtype)
        assert reply.rcode() == dns.rcode.NOERROR, (name, rdtype, reply)
        assert reply.flags & dns.flags.AD, (name, rdtype, reply)  # RFC 4035 §3.2.3: secure
    # per-region addresses through the validating resolver: a GB and a US client subnet
    for subnet, address in [("2.2.3.0/24", "192.0.2.81"), ("214.78.120.0/24", "192.0.2.82")]:
        reply = unbound("geo.signed.test.", "A", ecs=subnet)
        assert reply.flags & dns.flags.AD
        addresses = {r.to_text() for a in reply.answer if a.rdtype == dns.rdatatype.A for r in a}
        assert addresses == {address}


@pytest.mark.slow
def test_dnsviz_finds_no_error_with_the_trust_anchor(signed: Signed) -> None:
    anchors = signed.workdir / "anchors.txt"
    anchors.write_text("".join(f"{ZONE} 3600 IN DNSKEY {k}\n" for k in signed.dnskeys()))
    probe = signed.workdir / "probe.json"
    address = f"{signed.server.host}:{signed.server.port}"
    server = f"ns1.{ZONE.rstrip('.')}={address},ns2.{ZONE.rstrip('.')}={address}"
    # a name of each kind (not the delegations: dnsviz would follow them to servers that do
    # not exist here); dnsviz asks each for every type it knows, so few names
    names = [
        "signed.test",
        "www.signed.test",
        "weighted.signed.test",
        "chain.signed.test",
        "x.wild.signed.test",
        "nowhere.signed.test",
        "b.ent.signed.test",
    ]
    subprocess.run(
        [
            "dnsviz",
            "probe",
            "-t",
            "8",  # names in parallel: dnsviz waits on each
            "-A",
            "-a",
            ZONE.rstrip("."),
            "-x",
            f"{ZONE.rstrip('.')}+:{server}",
            "-o",
            str(probe),
            *names,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    printed = subprocess.run(
        ["dnsviz", "print", "-t", str(anchors), "-r", str(probe)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    lines = printed.splitlines()
    assert lines[0] == "signed.test [.]"  # [.]: secure from the trust anchor down
    problems = [line for line in lines if line.strip().startswith(("E:", "W:"))]
    assert problems == [], printed
    assert not [line for line in lines if "[!]" in line or "[-]" in line or "[?]" in line], printed


STATIC = [("signed.test.", t) for t in ("SOA", "NS", "MX", "DNSKEY", "CDS", "CDNSKEY")] + [
    ("ns1.signed.test.", "A"),
    ("ns2.signed.test.", "A"),
    ("mail.signed.test.", "A"),
    ("mail.signed.test.", "AAAA"),
    ("www.signed.test.", "A"),
    ("www.signed.test.", "TXT"),
    ("alias.signed.test.", "CNAME"),
    ("chain.signed.test.", "CNAME"),
    ("real.wild.signed.test.", "A"),
    ("a.b.ent.signed.test.", "A"),
    ("secure.signed.test.", "DS"),
    ("big.signed.test.", "TXT"),
]


def test_ldns_verify_zone_checks_every_static_signature(signed: Signed) -> None:
    records = []
    for name, rdtype in STATIC:
        reply = signed.server.query(name, rdtype, want_dnssec=True, tcp=True)
        records += [rrset.to_text() for rrset in reply.answer]
    zone_file = signed.workdir / "collected.zone"
    zone_file.write_text("\n".join(records) + "\n")
    anchors = signed.workdir / "anchors.key"
    anchors.write_text("".join(f"{ZONE} 3600 IN DNSKEY {k}\n" for k in signed.dnskeys()))

    def verify(path: Path) -> list[str]:
        done = subprocess.run(
            ["ldns-verify-zone", "-k", str(anchors), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return [line for line in (done.stdout + done.stderr).splitlines() if "Error" in line]

    # online signing keeps no NSEC chain (RFC 9824 §1): ldns says so for each name, and
    # those are the only errors it finds
    errors = verify(zone_file)
    assert errors and all("there is no NSEC(3) for" in e for e in errors), errors
    tampered = signed.workdir / "tampered.zone"
    tampered.write_text(zone_file.read_text().replace("192.0.2.10", "192.0.2.11", 1))
    assert any("Bogus DNSSEC signature for www.signed.test." in e for e in verify(tampered))


def rrsig_bytes(server: GeodnsProcess, name: str, rdtype: str) -> list[bytes]:
    reply = server.query(name, rdtype, want_dnssec=True)
    return sorted(
        r.to_wire()
        for section in (reply.answer, reply.authority)
        for rrset in section
        if rrset.rdtype == dns.rdatatype.RRSIG
        for r in rrset
    )


@pytest.mark.slow
def test_two_nodes_on_one_database_make_byte_identical_signatures(
    tmp_path: Path, database_url: str
) -> None:
    zones = prepare(tmp_path, database_url)
    one = start_node(zones, database_url, "127.0.0.1")
    two = start_node(zones, database_url, "127.0.0.2")
    try:
        for name, rdtype in [
            ("www.signed.test.", "A"),
            ("signed.test.", "DNSKEY"),
            ("nowhere.signed.test.", "A"),
            ("failover.signed.test.", "A"),  # a pool's drawn set
            ("x.wild.signed.test.", "A"),
        ]:
            first = rrsig_bytes(one, name, rdtype)
            assert first and first == rrsig_bytes(two, name, rdtype), (name, rdtype)
    finally:
        one.stop()
        two.stop()


def test_a_node_without_the_secret_fails_do_queries_and_says_why(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    zones = prepare(tmp_path, database_url)
    server = start_node(zones, database_url, GEODNS_DNSSEC_KEY_SECRET="")
    try:
        server.wait_for_log(
            "ERROR .* dnssec zone not signed on this node zone=signed.test.: dnssec_key_secret "
            "is not set"
        )
        reply = server.query("www.signed.test.", "A", want_dnssec=True)
        assert reply.rcode() == dns.rcode.SERVFAIL
        [ede] = [o for o in reply.options if o.otype == dns.edns.EDE]
        assert ede.code == 14 and "dnssec_key_secret is not set" in ede.text
        plain = server.query("www.signed.test.", "A", use_edns=0)
        assert plain.rcode() == dns.rcode.NOERROR and plain.answer
    finally:
        server.stop()


@pytest.mark.slow
def test_a_rollover_keeps_validating_through_every_step(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"  # the store: integration
    zones = prepare(
        tmp_path,
        database_url,
        "--dnskey-ttl",
        "2",
        "--propagation-delay",
        "1",
        "--parent-ds-ttl",
        "2",
    )
    server = start_node(zones, database_url)
    node = Signed(server, database_url, zones, tmp_path)
    try:
        [old] = node.dnskeys()
        geodns(database_url, "dnssec", "rollover", ZONE)

        def step(name: str, within_s: float = 15) -> None:
            deadline = time.monotonic() + within_s
            while name not in geodns(database_url, "dnssec", "status", ZONE).stdout:
                assert time.monotonic() < deadline, f"no step {name}"
                time.sleep(0.2)

        # pre-publish: both keys served; validators with the old key as anchor still validate
        deadline = time.monotonic() + 10
        while len(node.dnskeys()) < 2:
            assert time.monotonic() < deadline, "the new key was not published"
            time.sleep(0.1)
        [new] = [k for k in node.dnskeys() if k != old]
        assert "; fully validated" in node.delv("weighted.signed.test.", "A", [old])
        # switched (by itself, after DNSKEY TTL + propagation): the new key signs the data,
        # the old one still signs the DNSKEY RRset, so either anchor validates
        step("step: switched")
        deadline = time.monotonic() + 10
        while [r.to_text() for a in server.query(ZONE, "CDNSKEY").answer for r in a] != [new]:
            assert time.monotonic() < deadline, "CDNSKEY does not offer the new key"
            time.sleep(0.1)
        for anchor in (old, new):
            assert "; fully validated" in node.delv("www.signed.test.", "A", [anchor])
        geodns(database_url, "dnssec", "rollover", ZONE, "--ds-replaced")
        step("step: signed")
        deadline = time.monotonic() + 10
        while node.dnskeys() != [new]:
            assert time.monotonic() < deadline, "the old key did not leave"
            time.sleep(0.1)
        assert "; fully validated" in node.delv("weighted.signed.test.", "A", [new])
        assert "; negative response, fully validated" in node.delv(
            "nowhere.signed.test.", "A", [new]
        )
    finally:
        server.stop()
