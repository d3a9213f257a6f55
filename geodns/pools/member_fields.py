"""Member documents -> Member values: address, weight, region, coordinates, priority, url.

Pure. Used for a pool's members list and for the API's member sub-resource.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

from geodns.errors import Problem, ValidationError
from geodns.pools.fields import FieldReader, at, show
from geodns.pools.model import Member

MEMBER_FIELDS = (
    "address",
    "weight",
    "region",
    "latitude",
    "longitude",
    "priority",
    "enabled",
    "url",
)
MAX_URL_LENGTH = 2048


def validate_members(c: FieldReader, value: object, where: str) -> tuple[Member, ...] | None:
    items = c.list(value, where)
    if items is None:
        return None
    out: list[Member] = []
    first_at: dict[str, int] = {}
    ok = True
    for i, item in enumerate(items):
        member = validate_member(c, item, f"{where}[{i}]")
        if member is None:
            ok = False
        elif member.address in first_at:
            ok = False
            c.add(
                f"{where}[{i}].address",
                f"{member.address} is already members"
                f"[{first_at[member.address]}]; list each address once per pool",
            )
        else:
            first_at[member.address] = i
            out.append(member)
    with_url = [i for i, m in enumerate(out) if m.url is not None]
    if ok and with_url and len(with_url) < len(out):
        for i, m in enumerate(out):
            if m.url is None:
                ok = False
                c.add(
                    f"{where}[{i}].url",
                    f"required because members[{with_url[0]}] has one: the HTTP redirector "
                    "may choose any member, so give every member a url, or none",
                )
    return tuple(out) if ok else None


def parse_member(doc: object, where: str = "") -> Member:
    """One member document (the API's member sub-resource) -> Member; ValidationError."""
    problems: list[Problem] = []
    member = validate_member(FieldReader(problems), doc, where)
    if member is None:
        raise ValidationError("member", problems)
    return member


def validate_member(c: FieldReader, doc: object, where: str) -> Member | None:
    before = len(c.problems)
    fields = c.mapping(doc, where, MEMBER_FIELDS)
    if fields is None:
        return None
    address: str | None = None
    if "address" not in fields:
        c.add(at(where, "address"), "required: an IPv4 or IPv6 address")
    else:
        raw = fields["address"]
        try:
            address = ipaddress.ip_address(raw).compressed if isinstance(raw, str) else None
        except ValueError:
            pass
        if address is None:
            c.add(at(where, "address"), f"not an IPv4 or IPv6 address, got {show(raw)}")
    weight = c.integer(fields.get("weight", 100), at(where, "weight"), 0, 65535)
    region = c.region(fields.get("region", "default"), at(where, "region"))
    lat = lon = None
    if "latitude" in fields:
        lat = c.number(fields["latitude"], at(where, "latitude"), -90, 90)
    if "longitude" in fields:
        lon = c.number(fields["longitude"], at(where, "longitude"), -180, 180)
    if ("latitude" in fields) != ("longitude" in fields):
        missing = "longitude" if "latitude" in fields else "latitude"
        c.add(at(where, missing), "required with the other coordinate: give both or neither")
    priority = c.integer(fields.get("priority", 0), at(where, "priority"), 0, None)
    enabled = c.boolean(fields.get("enabled", True), at(where, "enabled"))
    url = None
    if "url" in fields:
        url = fields["url"]
        if (why := url_problem(url)) is not None:
            c.add(at(where, "url"), why)
    if len(c.problems) > before:
        return None
    assert address is not None and weight is not None and region is not None
    assert priority is not None and enabled is not None
    return Member(address, weight, region, lat, lon, priority, enabled, url)


# printable ASCII but space " < > \ ^ ` { | }: what RFC 3986 lets a URL hold unencoded
_URL_SAFE = re.compile(r"[!#-;=?-\[\]_a-z~]*", re.IGNORECASE)


def url_problem(value: object) -> str | None:
    """Why value is not a base URL the redirector can put in a Location header, or None.

    http or https, a host, no credentials (every client would see them), no query or
    fragment (the request's path and query are appended), ASCII only (RFC 3986 §2).
    """
    example = "such as https://eu1.example.com or http://192.0.2.1:8080/files"
    if not isinstance(value, str) or not value:
        return f"must be an http or https base URL {example}, got {show(value)}"
    if len(value) > MAX_URL_LENGTH:
        return f"is {len(value)} characters, over {MAX_URL_LENGTH}"
    if not _URL_SAFE.fullmatch(value):
        return (
            f"has characters a URL cannot hold as they are (spaces, quotes, non-ASCII): "
            f"percent-encode them (RFC 3986 §2.1), got {show(value)}"
        )
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        return f"must start with http:// or https:// {example}, got {show(value)}"
    try:
        port = parts.port
    except ValueError:
        return f"has a port that is not 1 to 65535, got {show(value)}"
    if not parts.hostname or port == 0:
        return f"must name a host {example}, got {show(value)}"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password: every redirected client would see them"
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        return (
            "must not have a query or fragment: the request's own path and query are "
            f"appended to it, got {show(value)}"
        )
    return None
