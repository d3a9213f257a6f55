"""Pool documents -> Pool values: defaults, normalisation, and the exact problems for bad input."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from geodns.errors import Problem, ValidationError
from geodns.pools.member_fields import parse_member
from geodns.pools.model import Check, CheckType, MatchKind, Member, Policy, Pool, Rule, to_document
from geodns.pools.validate import (
    check_pool_in_zones,
    parse_pool,
    problems_of,
    validate_pools_document,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "zones" / "pools.example.yaml"

GOOD: dict[str, Any] = {
    "name": "WWW.Example.com",
    "ttl": 60,
    "policy": "nearest",
    "max_answers": 2,
    "min_healthy_fraction": 0.5,
    "fail_open": False,
    "default_regions": ["us", "eu"],
    "members": [
        {
            "address": "192.0.2.11",
            "weight": 100,
            "region": "us",
            "latitude": 39,
            "longitude": -77.5,
            "priority": 0,
            "enabled": True,
        },
        {"address": "2001:DB8:0:0::11", "region": "eu"},
    ],
    "rules": [
        {"match": {"cidr": "10.0.0.0/8"}, "regions": ["us"]},
        {"match": {"country": "cn"}, "regions": ["eu", "us"]},
        {"match": {"continent": "eu"}, "regions": ["eu"]},
    ],
    "check": {
        "type": "http",
        "port": 80,
        "path": "/health",
        "host": "www.example.com",
        "expect_status": [200, 399],
        "body_contains": "ok",
        "tls_verify": True,
        "interval_s": 10,
        "timeout_s": 2,
        "rise": 2,
        "fall": 3,
    },
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """GOOD with one field set (path like "members.0.weight"); value DELETE removes it."""
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target: Any = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    index: Any = int(last) if isinstance(target, list) else last
    if value is DELETE:
        del target[index]
    else:
        target[index] = value
    return doc


DELETE = object()


def test_a_full_document_parses_normalised() -> None:
    assert parse_pool(GOOD) == Pool(
        name="www.example.com.",
        members=(
            Member("192.0.2.11", 100, "us", 39.0, -77.5, 0, True),
            Member("2001:db8::11", 100, "eu"),
        ),
        rules=(
            Rule(MatchKind.CIDR, "10.0.0.0/8", ("us",)),
            Rule(MatchKind.COUNTRY, "CN", ("eu", "us")),
            Rule(MatchKind.CONTINENT, "EU", ("eu",)),
        ),
        ttl=60,
        policy=Policy.NEAREST,
        max_answers=2,
        min_healthy_fraction=0.5,
        fail_open=False,
        default_regions=("us", "eu"),
        check=Check(
            CheckType.HTTP,
            port=80,
            path="/health",
            host="www.example.com",
            expect_status=(200, 399),
            body_contains="ok",
            tls_verify=True,
            interval_s=10.0,
            timeout_s=2.0,
            rise=2,
            fall=3,
        ),
    )


def test_a_minimal_document_takes_the_model_defaults() -> None:
    pool = parse_pool({"name": "a.example.com.", "members": [{"address": "192.0.2.1"}]})
    assert pool == Pool(name="a.example.com.", members=(Member("192.0.2.1"),))
    assert parse_pool({"name": "empty.example.com"}) == Pool(name="empty.example.com.")
    assert parse_pool({"name": "t.example.com", "check": {"type": "tcp", "port": 22}}).check == (
        Check(CheckType.TCP, port=22)
    )


BAD = [
    (
        "name-missing",
        with_("name", DELETE),
        [("name", "required: the pool's fully qualified name")],
    ),
    (
        "name-not-text",
        with_("name", 5),
        [("name", "must be a domain name such as www.example.com, got 5")],
    ),
    (
        "name-empty-label",
        with_("name", "a..example.com"),
        [("name", 'empty label in "a..example.com": write the name without doubled dots')],
    ),
    (
        "name-long-label",
        with_("name", "a" * 64 + ".com"),
        [("name", 'label "aaaaaaaaaaaaaaaaaaaa..." is 64 characters, over 63')],
    ),
    (
        "name-too-long",
        with_("name", ".".join(["a" * 60] * 5)),
        [("name", "name is 306 bytes in wire form, over 255")],
    ),
    (
        "name-bad-character",
        with_("name", "www.exa mple.com"),
        [
            (
                "name",
                "label \"exa mple\" must be letters, digits, '-' and '_', not starting or ending "
                "with '-' (internationalised names: use the xn-- form)",
            )
        ],
    ),
    (
        "unknown-field",
        with_("colour", "blue"),
        [
            (
                "colour",
                "unknown field; expected one of: name, ttl, policy, max_answers, "
                "min_healthy_fraction, fail_open, default_regions, members, rules, check",
            )
        ],
    ),
    ("ttl-zero", with_("ttl", 0), [("ttl", "must be an integer from 1 to 3600, got 0")]),
    ("ttl-text", with_("ttl", "30"), [("ttl", 'must be an integer from 1 to 3600, got "30"')]),
    ("ttl-bool", with_("ttl", True), [("ttl", "must be an integer from 1 to 3600, got true")]),
    ("ttl-float", with_("ttl", 30.5), [("ttl", "must be an integer from 1 to 3600, got 30.5")]),
    (
        "policy",
        with_("policy", "fastest"),
        [
            (
                "policy",
                "must be one of weighted, nearest, sticky, round_robin, failover, adaptive; "
                'got "fastest"',
            )
        ],
    ),
    (
        "max-answers",
        with_("max_answers", 9),
        [("max_answers", "must be an integer from 1 to 8, got 9")],
    ),
    (
        "fraction",
        with_("min_healthy_fraction", 1.5),
        [("min_healthy_fraction", "must be a number from 0 to 1, got 1.5")],
    ),
    (
        "fraction-nan",
        with_("min_healthy_fraction", float("nan")),
        [("min_healthy_fraction", "must be a number from 0 to 1, got NaN")],
    ),
    ("fail-open", with_("fail_open", "yes"), [("fail_open", 'must be true or false, got "yes"')]),
    (
        "default-regions-empty",
        with_("default_regions", []),
        [("default_regions", "must list at least one region")],
    ),
    (
        "default-regions-unknown",
        with_("default_regions", ["us", "ap"]),
        [("default_regions[1]", 'region "ap" has no members (regions with members: eu, us)')],
    ),
    (
        "default-regions-twice",
        with_("default_regions", ["us", "us"]),
        [("default_regions[1]", 'region "us" is listed twice')],
    ),
    (
        "members-not-list",
        with_("members", {"address": "192.0.2.1"}),
        [("members", 'must be a list, got {"address": "192.0.2.1"}')],
    ),
    (
        "member-not-object",
        with_("members.1", "192.0.2.1"),
        [("members[1]", 'must be an object with fields, got "192.0.2.1"')],
    ),
    (
        "member-address",
        with_("members.1.address", "192.0.2.300"),
        [("members[1].address", 'not an IPv4 or IPv6 address, got "192.0.2.300"')],
    ),
    (
        "member-address-missing",
        with_("members.1.address", DELETE),
        [("members[1].address", "required: an IPv4 or IPv6 address")],
    ),
    (
        "member-duplicate",
        with_("members.1.address", "192.0.2.11"),
        [
            (
                "members[1].address",
                "192.0.2.11 is already members[0]; list each address once per pool",
            )
        ],
    ),
    ("member-duplicate-spelled-differently", with_("members.1.address", "2001:db8::11"), []),
    (
        "member-weight",
        with_("members.0.weight", 65536),
        [("members[0].weight", "must be an integer from 0 to 65535, got 65536")],
    ),
    (
        "member-weight-bool",
        with_("members.0.weight", False),
        [("members[0].weight", "must be an integer from 0 to 65535, got false")],
    ),
    (
        "member-region",
        with_("members.0.region", ""),
        [
            (
                "members[0].region",
                "must be a region label (1 to 63 letters, digits, '-', '_' or '.'), got \"\"",
            )
        ],
    ),
    (
        "member-latitude",
        with_("members.0.latitude", 90.5),
        [("members[0].latitude", "must be a number from -90 to 90, got 90.5")],
    ),
    (
        "member-longitude",
        with_("members.0.longitude", -181),
        [("members[0].longitude", "must be a number from -180 to 180, got -181")],
    ),
    (
        "member-half-coordinates",
        with_("members.0.longitude", DELETE),
        [("members[0].longitude", "required with the other coordinate: give both or neither")],
    ),
    (
        "member-priority",
        with_("members.0.priority", -1),
        [("members[0].priority", "must be an integer of 0 or more, got -1")],
    ),
    (
        "member-enabled",
        with_("members.0.enabled", 1),
        [("members[0].enabled", "must be true or false, got 1")],
    ),
    (
        "member-unknown",
        with_("members.0.port", 80),
        [
            (
                "members[0].port",
                "unknown field; expected one of: address, weight, region, latitude, "
                "longitude, priority, enabled, url",
            )
        ],
    ),
    (
        "rule-cidr",
        with_("rules.0.match", {"cidr": "10.0.0.0/33"}),
        [
            (
                "rules[0].match.cidr",
                'not an IPv4 or IPv6 network such as 10.0.0.0/8, got "10.0.0.0/33"',
            )
        ],
    ),
    (
        "rule-cidr-host-bits",
        with_("rules.0.match", {"cidr": "10.1.2.3/8"}),
        [("rules[0].match.cidr", "10.1.2.3/8 has host bits set: the network is 10.0.0.0/8")],
    ),
    (
        "rule-two-matches",
        with_("rules.0.match", {"cidr": "10.0.0.0/8", "country": "CN"}),
        [
            (
                "rules[0].match",
                "must have exactly one of cidr, country, continent; got cidr, country",
            )
        ],
    ),
    (
        "rule-no-match",
        with_("rules.0.match", {}),
        [("rules[0].match", "must have exactly one of cidr, country, continent; got none")],
    ),
    (
        "rule-match-unknown",
        with_("rules.0.match", {"asn": 64500}),
        [
            ("rules[0].match.asn", "unknown field; expected one of: cidr, country, continent"),
            ("rules[0].match", "must have exactly one of cidr, country, continent; got none"),
        ],
    ),
    (
        "rule-country",
        with_("rules.1.match", {"country": "CHN"}),
        [
            (
                "rules[1].match.country",
                'must be an ISO 3166-1 alpha-2 country code (two letters, such as CN), got "CHN"',
            )
        ],
    ),
    (
        "rule-country-yaml-no",
        with_("rules.1.match", {"country": False}),
        [
            (
                "rules[1].match.country",
                "must be an ISO 3166-1 alpha-2 country code (two letters, "
                "such as CN), got false (YAML reads a bare NO as false: quote "
                'it, "NO")',
            )
        ],
    ),
    (
        "rule-continent",
        with_("rules.2.match", {"continent": "EUR"}),
        [
            (
                "rules[2].match.continent",
                'must be a continent code, one of AF, AN, AS, EU, NA, OC, SA; got "EUR"',
            )
        ],
    ),
    (
        "rule-same-match",
        with_("rules.2.match", {"country": "CN"}),
        [("rules[2].match", "same match as rules[1], which always wins: remove one")],
    ),
    (
        "rule-regions-missing",
        with_("rules.0.regions", DELETE),
        [("rules[0].regions", "required: the regions to try, in order")],
    ),
    (
        "rule-regions-empty",
        with_("rules.0.regions", []),
        [("rules[0].regions", "must list at least one region")],
    ),
    (
        "rule-region-unknown",
        with_("rules.1.regions", ["eu", "internal"]),
        [
            (
                "rules[1].regions[1]",
                'region "internal" has no members (regions with members: eu, us)',
            )
        ],
    ),
    ("rules-not-list", with_("rules", "none"), [("rules", 'must be a list, got "none"')]),
    (
        "check-type",
        with_("check.type", "icmp"),
        [("check.type", 'must be one of tcp, http, https; got "icmp"')],
    ),
    (
        "check-type-missing",
        with_("check.type", DELETE),
        [("check.type", "required: tcp, http or https")],
    ),
    (
        "check-port",
        with_("check.port", 0),
        [("check.port", "must be an integer from 1 to 65535, got 0")],
    ),
    (
        "check-tcp-needs-port",
        {**GOOD, "check": {"type": "tcp"}},
        [("check.port", "required for a tcp check: 1 to 65535")],
    ),
    (
        "check-tcp-http-fields",
        {**GOOD, "check": {"type": "tcp", "port": 22, "path": "/"}},
        [("check.path", "only for http and https checks; remove it for tcp")],
    ),
    (
        "check-path",
        with_("check.path", "health"),
        [("check.path", "must be a URL path starting with '/', got \"health\"")],
    ),
    (
        "check-host",
        with_("check.host", "not a host"),
        [("check.host", 'must be a host name for the Host header, got "not a host"')],
    ),
    (
        "check-status-order",
        with_("check.expect_status", [399, 200]),
        [
            (
                "check.expect_status",
                "must be [lowest, highest] HTTP status, 100 to 599, got [399, 200]",
            )
        ],
    ),
    (
        "check-status-range",
        with_("check.expect_status", [200, 600]),
        [
            (
                "check.expect_status",
                "must be [lowest, highest] HTTP status, 100 to 599, got [200, 600]",
            )
        ],
    ),
    (
        "check-body",
        with_("check.body_contains", ""),
        [("check.body_contains", 'must be a non-empty string, got ""')],
    ),
    (
        "check-interval",
        with_("check.interval_s", 0),
        [("check.interval_s", "must be a number from 0.1 to 3600, got 0")],
    ),
    (
        "check-timeout",
        with_("check.timeout_s", 0),
        [("check.timeout_s", "must be a number from 0.01 to 60, got 0")],
    ),
    (
        "check-timeout-over-interval",
        with_("check.timeout_s", 12),
        [("check.timeout_s", "must not exceed interval_s (10 s), got 12")],
    ),
    (
        "check-rise",
        with_("check.rise", 0),
        [("check.rise", "must be an integer from 1 to 100, got 0")],
    ),
    (
        "check-fall",
        with_("check.fall", 101),
        [("check.fall", "must be an integer from 1 to 100, got 101")],
    ),
    (
        "check-unknown",
        with_("check.retries", 3),
        [
            (
                "check.retries",
                "unknown field; expected one of: type, port, path, host, expect_status, "
                "body_contains, tls_verify, interval_s, timeout_s, rise, fall",
            )
        ],
    ),
]


@pytest.mark.parametrize(
    ("doc", "expected"), [(d, e) for _, d, e in BAD], ids=[i for i, _, _ in BAD]
)
def test_each_bad_field_is_one_exact_problem(doc: dict[str, Any], expected: list[Any]) -> None:
    assert problems_of(doc) == [Problem(where, message) for where, message in expected]


def test_every_problem_is_reported_at_once_under_the_given_prefix() -> None:
    doc = with_("ttl", 0)
    doc["members"][1]["weight"] = -1
    doc["rules"][0]["match"] = {"cidr": "bad"}
    with pytest.raises(ValidationError) as raised:
        parse_pool(doc, "pools[3].")
    assert raised.value.subject == "pool WWW.Example.com"
    assert [p.where for p in raised.value.problems] == [
        "pools[3].ttl",
        "pools[3].members[1].weight",
        "pools[3].rules[0].match.cidr",
    ]


def test_a_document_that_is_not_an_object_is_one_problem() -> None:
    assert problems_of(["www"]) == [
        Problem("(document)", 'must be an object with fields, got ["www"]')
    ]
    assert problems_of(None, "pools[0].") == [
        Problem("pools[0]", "must be an object with fields, got null")
    ]


def with_urls(*urls: object) -> dict[str, Any]:
    """The full document with members[i].url = urls[i] (DELETE: no url)."""
    doc = with_("ttl", 30)
    for member, url in zip(doc["members"], urls, strict=False):
        if url is not DELETE:
            member["url"] = url
    return doc


def test_member_urls_parse_as_written() -> None:
    count = len(with_("ttl", 30)["members"])
    urls = [f"https://m{i}.example.com/files" for i in range(count)]
    pool = parse_pool(with_urls(*urls))
    assert [m.url for m in pool.members] == urls
    assert [m["url"] for m in to_document(pool)["members"]] == urls


URL_EXAMPLE = "such as https://eu1.example.com or http://192.0.2.1:8080/files"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://m.example.com",
            f'must start with http:// or https:// {URL_EXAMPLE}, got "ftp://m.example.com"',
        ),
        (
            "m.example.com",
            f'must start with http:// or https:// {URL_EXAMPLE}, got "m.example.com"',
        ),
        ("https://", f'must name a host {URL_EXAMPLE}, got "https://"'),
        (
            "http://m.example.com:99999",
            'has a port that is not 1 to 65535, got "http://m.example.com:99999"',
        ),
        (
            "https://user:secret@m.example.com",
            "must not carry a user name or password: every redirected client would see them",
        ),
        (
            "https://m.example.com/?a=1",
            "must not have a query or fragment: the request's own path and query are "
            'appended to it, got "https://m.example.com/?a=1"',
        ),
        (
            "https://m.example.com/#top",
            "must not have a query or fragment: the request's own path and query are "
            'appended to it, got "https://m.example.com/#top"',
        ),
        (
            "https://m.example.com/a b",
            "has characters a URL cannot hold as they are (spaces, quotes, non-ASCII): "
            'percent-encode them (RFC 3986 §2.1), got "https://m.example.com/a b"',
        ),
        (
            "https://m.example.com/\r\nSet-Cookie:x",
            "has characters a URL cannot hold as they are (spaces, quotes, non-ASCII): "
            'percent-encode them (RFC 3986 §2.1), got "https://m.example.com/\\r\\nSet-Cookie:x"',
        ),
        (7, f"must be an http or https base URL {URL_EXAMPLE}, got 7"),
        (None, f"must be an http or https base URL {URL_EXAMPLE}, got null"),
        ("https://m.example.com/" + "a" * 2048, "is 2070 characters, over 2048"),
    ],
    ids=[
        "ftp",
        "no-scheme",
        "no-host",
        "bad-port",
        "credentials",
        "query",
        "fragment",
        "space",
        "header-injection",
        "not-text",
        "null",
        "too-long",
    ],
)
def test_a_bad_member_url_is_one_exact_problem(url: object, message: str) -> None:
    doc = with_urls(url, "https://ok.example.com")
    assert problems_of(doc) == [Problem("members[0].url", message)]


def test_urls_are_given_to_every_member_or_to_none() -> None:
    doc = with_urls(DELETE, "https://m1.example.com")
    assert problems_of(doc) == [
        Problem(
            "members[0].url",
            "required because members[1] has one: the HTTP redirector may choose any "
            "member, so give every member a url, or none",
        )
    ]


def test_parse_member_alone_uses_bare_field_names() -> None:
    assert parse_member({"address": "192.0.2.9", "weight": 0}) == Member("192.0.2.9", weight=0)
    with pytest.raises(ValidationError) as raised:
        parse_member({"address": "x", "weight": 0})
    assert raised.value.problems == (Problem("address", 'not an IPv4 or IPv6 address, got "x"'),)


@pytest.mark.parametrize(
    ("name", "zones", "expected"),
    [
        ("www.example.com.", ["example.com"], []),
        ("example.com.", ["example.com."], []),  # at the apex: A/AAAA beside SOA and NS
        ("deep.lb.example.com.", ["example.net.", "lb.example.com."], []),
        (
            "www.example.org.",
            ["example.net", "example.com."],
            [
                Problem(
                    "name",
                    "www.example.org. is not inside a served zone (served: example.com., "
                    "example.net.)",
                )
            ],
        ),
        (
            "wwwexample.com.",
            ["example.com."],
            [Problem("name", "wwwexample.com. is not inside a served zone (served: example.com.)")],
        ),
        (
            "www.example.com.",
            [],
            [
                Problem(
                    "name",
                    "www.example.com. is not inside a served zone (served: no zones are loaded)",
                )
            ],
        ),
    ],
    ids=["below", "apex", "subzone", "outside", "suffix-not-label", "no-zones"],
)
def test_pools_must_lie_inside_a_served_zone(
    name: str, zones: list[str], expected: list[Problem]
) -> None:
    assert check_pool_in_zones(Pool(name=name), zones) == expected


def test_a_pools_document_lists_each_pool_once_by_normalised_name() -> None:
    doc = {"pools": [{"name": "a.example.com"}, {"name": "A.EXAMPLE.COM."}]}
    pools, problems = validate_pools_document(doc)
    assert [p.name for p in pools] == ["a.example.com."]
    assert problems == [
        Problem("pools[1].name", "a.example.com. is already pools[0]; list each pool once")
    ]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (None, Problem("(document)", 'must be a mapping with a "pools" list, got null')),
        ({}, Problem("pools", "required: the list of pools ([] deletes every pool on apply)")),
        ({"pools": {}}, Problem("pools", "must be a list, got {}")),
    ],
    ids=["null", "no-pools", "pools-not-list"],
)
def test_a_pools_document_without_a_pools_list_is_one_problem(
    doc: object, expected: Problem
) -> None:
    assert validate_pools_document(doc) == ([], [expected])


def check_doc(**fields: Any) -> dict[str, Any]:
    return {"name": "a.example.com", "check": {"type": "tcp", "port": 80, **fields}}


def test_unit_less_check_fields_still_mean_seconds_and_are_noted_as_deprecated() -> None:
    notes: list[Problem] = []
    old = parse_pool(check_doc(interval=5, timeout=1.5), notes=notes)
    new = parse_pool(check_doc(interval_s=5, timeout_s=1.5))
    assert old == new
    assert old.check is not None and (old.check.interval_s, old.check.timeout_s) == (5.0, 1.5)
    assert notes == [
        Problem("check.interval", "deprecated: write interval_s (seconds)"),
        Problem("check.timeout", "deprecated: write timeout_s (seconds)"),
    ]


def test_a_check_field_in_both_spellings_is_a_problem() -> None:
    assert problems_of(check_doc(interval=5, interval_s=6)) == [
        Problem("check.interval", "give interval_s only: interval is its deprecated spelling")
    ]


def test_the_deprecated_spelling_obeys_the_same_bounds_as_the_new() -> None:
    assert problems_of(check_doc(interval=1, timeout=2)) == [
        Problem("check.timeout_s", "must not exceed interval_s (1 s), got 2")
    ]


def test_a_pool_document_is_written_with_the_units_in_the_names() -> None:
    check = to_document(parse_pool(check_doc(interval=5, timeout=1)))["check"]
    assert (check["interval_s"], check["timeout_s"]) == (5.0, 1.0)
    assert "interval" not in check and "timeout" not in check
