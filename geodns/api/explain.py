"""/api/v1/explain: the answer a client gets right now, and why, through the DNS path's code.

Control plane reading the data plane. The query is built as wire bytes and decoded by
the DNS decoder, so the client network comes out exactly as for a real query (ECS capped
at /24 and /56, RFC 7871 §11.1). It goes through resolve() and compile_reply() like any
query, with the pool's prepare() handed a Trace that records each decision; the reply is
read back, so the records shown are the records sent. With `seed`, the random choices
repeat (a round_robin pool still advances its shared rotation).
"""

from __future__ import annotations

import ipaddress
import math
import random
import secrets
import struct
from typing import Any

import dnslib
from aiohttp import web

from geodns.answer.context import QueryContext, Transport
from geodns.answer.reply import compile_reply
from geodns.answer.resolve import client_for, resolve
from geodns.api.http import JSON
from geodns.api.keys import SNAPSHOTS
from geodns.dns import names, rcode, rdataclass, rdatatype
from geodns.dns.edns import OUR_UDP_PAYLOAD, ClientSubnet, Edns, encode_opt
from geodns.dns.wire import decode_query
from geodns.errors import Problem, ValidationError
from geodns.pools.compile import CompiledPool
from geodns.pools.explain import Trace
from geodns.pools.fields import name_problem, normalise_name
from geodns.pools.model import Client
from geodns.pools.select import Prepared, prepare
from geodns.redirect import decide as redirect
from geodns.snapshot import Snapshot

QTYPES = {"A": rdatatype.A, "AAAA": rdatatype.AAAA}
EXPLAIN_SOURCE = "192.0.2.53"  # the packet's source when ECS names the client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_params(query: Any) -> tuple[str, str, str | None, Network | None, int]:
    """(name, type, client address, ECS network, seed); ValidationError naming each bad one."""
    problems: list[Problem] = []
    name = query.get("name")
    if name is None:
        problems.append(Problem("name", "required: the name to ask for, such as www.example.com"))
    elif (why := name_problem(name)) is not None:
        problems.append(Problem("name", why))
    qtype = query.get("type", "A").upper()
    if qtype not in QTYPES:
        problems.append(Problem("type", f"must be A or AAAA, got {query.get('type')!r}"))
    client, ecs = query.get("client"), query.get("ecs")
    network: Network | None = None
    if (client is None) == (ecs is None):
        problems.append(
            Problem("client", "give exactly one of client=ADDRESS or ecs=NETWORK/PREFIX")
        )
    elif client is not None:
        try:
            client = ipaddress.ip_address(client).compressed
        except ValueError:
            problems.append(Problem("client", f"not an IPv4 or IPv6 address, got {client!r}"))
    else:
        try:
            network = ipaddress.ip_network(ecs, strict=False)
        except ValueError:
            problems.append(
                Problem("ecs", f"not a network such as 81.2.69.0/24 or 2001:db8::/56, got {ecs!r}")
            )
    seed_text = query.get("seed")
    seed = secrets.randbelow(2**32)
    if seed_text is not None:
        if seed_text.isdigit() and len(seed_text) <= 19:
            seed = int(seed_text)
        else:
            problems.append(Problem("seed", f"must be a non-negative integer, got {seed_text!r}"))
    if problems:
        raise ValidationError("explain query", problems)
    assert isinstance(name, str)
    return normalise_name(name), qtype, client, network, seed


def build_query(qname: bytes, qtype: int, ecs: Network | None) -> bytes:
    """A query as a resolver would send it: EDNS, and the ECS option when given (its
    SCOPE PREFIX-LENGTH 0, RFC 7871 §6), in the OPT record dns/edns.py writes."""
    header = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 1)
    question = qname + struct.pack("!HH", qtype, rdataclass.IN)
    subnet = None
    if ecs is not None:
        family = 1 if ecs.version == 4 else 2
        prefix = ecs.prefixlen
        address = ecs.network_address.packed[: math.ceil(prefix / 8)]
        subnet = ClientSubnet(family, prefix, 0, address)
    edns = Edns(OUR_UDP_PAYLOAD, 0, False, 0, subnet)
    return header + question + encode_opt(edns, 0, None)


def records(section: Any) -> list[JSON]:
    out = []
    for rr in section:
        if rr.rtype == rdatatype.OPT:
            continue
        out.append(
            {
                "name": str(rr.rname),
                "type": dnslib.QTYPE.get(rr.rtype, f"TYPE{rr.rtype}"),
                "ttl": rr.ttl,
                "data": str(rr.rdata),
            }
        )
    return out


def explain(
    snapshot: Snapshot,
    name: str,
    qtype_text: str,
    client: str | None,
    ecs: Network | None,
    seed: int,
) -> JSON:
    qname = names.from_text(name)
    qtype = QTYPES[qtype_text]
    query = decode_query(build_query(qname, qtype, ecs))
    ctx = QueryContext(query, client or EXPLAIN_SOURCE, Transport.TCP)
    network = ctx.client_network()
    traces: list[tuple[Trace, Client]] = []

    def traced(pool: CompiledPool, qt: int, _: QueryContext, snap: Snapshot) -> Prepared:
        # the DNS path's own prepare, with a trace; the client is located even for a pool
        # that ignores it, so the explanation can show where the client is
        chosen = client_for(pool, network, snap)
        trace = Trace(pool, qt, chosen)
        traces.append((trace, chosen))
        return prepare(pool, qt, chosen, snap.health, trace)

    answer = resolve(ctx, snapshot, traced)
    reply = compile_reply(query, answer, ctx.size_limit)
    picked = reply.draw(random.Random(seed)) if reply.draw is not None else ()
    message = dnslib.DNSRecord.parse(reply.assemble(b"\x00\x00", picked))
    location = traces[-1][1].location if traces else None
    if location is None and snapshot.geo is not None and network.source_prefix:
        location = snapshot.geo.locate(network.family, network.address)
    explanation = traces[-1][0].build(tuple(picked), answer.scope_prefix) if traces else None
    answered = records(message.rr)
    shown = (ipaddress.IPv4Address if network.family == 4 else ipaddress.IPv6Address)(
        network.address
    )
    return {
        "name": name,
        "type": qtype_text,
        "client": f"{shown}/{network.source_prefix}",
        "ecs": ecs is not None,
        "seed": seed,
        "rcode": rcode.to_text(answer.rcode),
        "authoritative": answer.aa,
        "pool": answer.pool.pool.name if answer.pool is not None else None,
        "answer": answered,
        "authority": records(message.auth),
        "addresses": [r["data"] for r in answered if r["type"] == qtype_text],
        "ttl": min((r["ttl"] for r in answered), default=None),
        "ecs_scope": answer.scope_prefix if ecs is not None else None,
        "location": None
        if location is None
        else {
            "country": location.country,
            "continent": location.continent,
            "latitude": location.latitude,
            "longitude": location.longitude,
            "prefix": location.prefix,
        },
        "explanation": None if explanation is None else explanation.to_dict(),
    }


def parse_path(query: Any, client: str | None) -> str | None:
    """The path= of an HTTP redirect to explain (with its query string), or None."""
    path = query.get("path")
    if path is None:
        return None
    problems = []
    if not path.startswith("/"):
        problems.append(
            Problem("path", f"must start with /, such as /downloads/f.iso, got {path!r}")
        )
    if client is None:
        problems.append(
            Problem("client", "required with path: an HTTP client has an address, no ECS")
        )
    if problems:
        raise ValidationError("explain query", problems)
    return redirect.safe_target(path.encode("utf-8"))


def explain_redirect(snapshot: Snapshot, name: str, client: str, path: str, seed: int) -> JSON:
    """What the HTTP redirector answers this client for path, through its own code."""
    ip = ipaddress.ip_address(client)
    found = redirect.Redirects().find(snapshot, names.from_text(name))
    rng = random.Random(seed)
    if found is None:
        decision = redirect.decide(None, name, ip.version, int(ip), path, snapshot, rng)
        why = None
    else:
        decision, why = redirect.explain(found, ip.version, int(ip), path, snapshot, rng)
    return {
        "status": decision.status,
        "location": decision.location or None,
        "address": decision.member or None,
        "alternates": [
            {"url": url, "address": address, "pri": i}
            for i, (url, address) in enumerate(decision.alternates, 1)
        ],
        "reason": decision.reason or None,
        "explanation": None if why is None else why.to_dict(),
    }


async def get_explain(request: web.Request) -> web.Response:
    name, qtype, client, ecs, seed = parse_params(request.query)
    path = parse_path(request.query, client)
    snapshot = request.app[SNAPSHOTS].current
    result = explain(snapshot, name, qtype, client, ecs, seed)
    if path is not None and client is not None:
        result["redirect"] = explain_redirect(snapshot, name, client, path, seed)
    return web.json_response(result)
