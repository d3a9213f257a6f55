"""DNSSEC end to end, judged by real validators on loopback: the geodns process signs
tests/data/dnssec with a key `geodns dnssec enable` put in the database; delv and an
Unbound resolver (in front of geodns, ECS on) validate its answers with the zone's key as
trust anchor, dnsviz finds no error, ldns-verify-zone checks the static signatures; two
nodes on one database sign byte for byte alike; a rollover runs its steps while
validators keep validating; a node without the secret fails DO queries and says why; on
each data plane, signed replies over real UDP and TCP validate with dns.dnssec.validate:
truncated and whole, with and without the CO flag, and after a health change; an Ed25519
zone validates with delv."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from dnssec_checks import validate_message
from harness import DATA, MAXMIND, ROOT, GeodnsProcess, clean_environ, create_token, start_geodns
from polling import within

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
    signed_zones: Path,
    database: str,
    address: str = "127.0.0.1",
    *,
    api: str = "off",
    data_plane: str = "auto",
    **env: str,
) -> GeodnsProcess:
    return start_geodns(
        [
            "--dns",
            f"{address}:0",
            "--api",
            api,
            "--zones",
            str(signed_zones),
            "--database",
            database,
            "--geoip-db",
            str(MAXMIND / "GeoIP2-City-Test.mmdb"),
            "--data-plane",
            data_plane,
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

    def answering() -> bool:
        try:
            ask(ZONE, "SOA")
        except (OSError, dns.exception.Timeout):
            assert process.poll() is None, "unbound died"
            return False
        return True

    try:
        within(10.0, answering, "unbound answers")
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
            def reached() -> bool:
                return name in geodns(database_url, "dnssec", "status", ZONE).stdout

            # each check runs `geodns dnssec status`, a process start: as before, 0.2 s apart
            within(within_s, reached, f"no step {name}", poll_s=0.2)

        # pre-publish: both keys served; validators with the old key as anchor still validate
        within(10.0, lambda: len(node.dnskeys()) >= 2, "the new key was not published")
        [new] = [k for k in node.dnskeys() if k != old]
        assert "; fully validated" in node.delv("weighted.signed.test.", "A", [old])
        # switched (by itself, after DNSKEY TTL + propagation): the new key signs the data,
        # the old one still signs the DNSKEY RRset, so either anchor validates
        step("step: switched")

        def offered() -> bool:
            cdnskeys = [r.to_text() for a in server.query(ZONE, "CDNSKEY").answer for r in a]
            return cdnskeys == [new]

        within(10.0, offered, "CDNSKEY does not offer the new key")
        for anchor in (old, new):
            assert "; fully validated" in node.delv("www.signed.test.", "A", [anchor])
        geodns(database_url, "dnssec", "rollover", ZONE, "--ds-replaced")
        step("step: signed")
        within(10.0, lambda: node.dnskeys() == [new], "the old key did not leave")
        assert "; fully validated" in node.delv("weighted.signed.test.", "A", [new])
        assert "; negative response, fully validated" in node.delv(
            "nowhere.signed.test.", "A", [new]
        )
    finally:
        server.stop()


# -- signed answers on the wire, on each data plane, judged by dnspython -----------------


def served_dnskeys(server: GeodnsProcess) -> dict[dns.name.Name, dns.rrset.RRset]:
    """The zone's DNSKEY RRset as the node serves it: what dns.dnssec.validate trusts."""
    reply = server.query(ZONE, "DNSKEY", want_dnssec=True)
    [keys] = [r for r in reply.answer if r.rdtype == dns.rdatatype.DNSKEY]
    return {keys.name: keys}


def validated(server: GeodnsProcess, reply: dns.message.Message) -> list[tuple[str, str]]:
    """Every RRset of reply validated with dns.dnssec.validate (ValidationFailure if one
    does not); a reply with an RRset left unsigned fails."""
    good, unsigned = validate_message(reply, served_dnskeys(server), time.time())
    assert unsigned == [], reply
    return good


@pytest.fixture(scope="module")
def signed_node(
    tmp_path_factory: pytest.TempPathFactory, data_plane: str
) -> Iterator[GeodnsProcess]:
    """A signed node answering UDP on data_plane (the C loop, or Python)."""
    workdir = tmp_path_factory.mktemp("signed-node")
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    server = start_node(prepare(workdir, database), database, data_plane=data_plane)
    yield server
    server.stop()


def test_a_signed_answer_over_the_udp_payload_is_tc_and_whole_over_tcp_rfc6891_7(
    signed_node: GeodnsProcess,
) -> None:
    # big.signed.test TXT with its RRSIG is about 560 octets: over 512, within 1232
    udp = signed_node.query("big.signed.test.", "TXT", want_dnssec=True, payload=512)
    assert udp.flags & dns.flags.TC and not udp.answer  # RFC 2181 §9: ask again over TCP
    assert udp.edns == 0 and udp.ednsflags & dns.flags.DO
    for reply in (
        signed_node.query("big.signed.test.", "TXT", want_dnssec=True, payload=512, tcp=True),
        signed_node.query("big.signed.test.", "TXT", want_dnssec=True, payload=1232),
    ):
        assert not reply.flags & dns.flags.TC
        assert validated(signed_node, reply) == [("big.signed.test.", "TXT")]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_nxdomain_only_for_the_co_flag_and_either_way_validated_rfc9824_s3_s4(
    signed_node: GeodnsProcess, tcp: bool
) -> None:
    for co, rcode in [(False, dns.rcode.NOERROR), (True, dns.rcode.NXDOMAIN)]:
        reply = signed_node.query(
            "nowhere.signed.test.",
            "A",
            tcp=tcp,
            want_dnssec=True,
            ednsflags=dns.flags.EDNSFlag.CO if co else 0,
        )
        assert reply.rcode() == rcode, reply
        [nsec] = [r for r in reply.authority if r.rdtype == dns.rdatatype.NSEC]
        assert nsec.name == dns.name.from_text("nowhere.signed.test.")
        assert "NXNAME" in nsec[0].to_text().split()[1:]
        assert validated(signed_node, reply) == [
            ("signed.test.", "SOA"),
            ("nowhere.signed.test.", "NSEC"),
        ]


def report_health(server: GeodnsProcess, token: str, status: str, *addresses: str) -> None:
    """A prober's report through the REST API, as an external probe sends it."""
    body = {"reports": [{"address": a, "status": status, "ttl": 120} for a in addresses]}
    request = urllib.request.Request(
        server.api + "/api/v1/health/reports",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.slow
def test_after_a_health_change_every_signed_pool_answer_still_validates(
    tmp_path: Path, data_plane: str
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    zones = prepare(tmp_path, database)
    token = create_token(database, "prober", "probe-a")
    server = start_node(zones, database, api="127.0.0.1:0", data_plane=data_plane)

    def drawn(name: str) -> set[str]:
        """The addresses of one signed answer, which must validate (each poll too)."""
        reply = server.query(name, "A", want_dnssec=True)
        assert validated(server, reply) == [(name, "A")]
        return {r.to_text() for a in reply.answer if a.rdtype == dns.rdatatype.A for r in a}

    try:
        assert drawn("failover.signed.test.") == {"192.0.2.51"}
        report_health(server, token, "down", "192.0.2.51", "192.0.2.11", "192.0.2.12")
        within(5, lambda: drawn("failover.signed.test.") == {"192.0.2.52"}, "failover")
        within(5, lambda: drawn("weighted.signed.test.") == {"192.0.2.13"}, "weighted")
        for _ in range(20):  # whichever path answers (C loop or Python), the same signed set
            assert drawn("weighted.signed.test.") == {"192.0.2.13"}
        report_health(server, token, "up", "192.0.2.51", "192.0.2.11", "192.0.2.12")
        within(5, lambda: drawn("failover.signed.test.") == {"192.0.2.51"}, "failover back")
        within(5, lambda: len(drawn("weighted.signed.test.")) == 2, "weighted back")
        assert SECRET not in server.log()  # issue 13 §1: the key secret is never logged
    finally:
        server.stop()


@pytest.mark.slow
def test_an_ed25519_zone_validates_with_delv_rfc8080(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    zones = prepare(tmp_path, database, "--algorithm", "15")
    server = start_node(zones, database)
    node = Signed(server, database, zones, tmp_path)
    try:
        [dnskey] = node.dnskeys()
        assert dnskey.split()[:3] == ["257", "3", "15"]
        for name, rdtype in [("www.signed.test.", "A"), ("weighted.signed.test.", "A")]:
            assert "; fully validated" in node.delv(name, rdtype), (name, rdtype)
        out = node.delv("nowhere.signed.test.", "A")
        assert "; negative response, fully validated" in out, out
    finally:
        server.stop()
