"""Pools files: YAML text -> pools, each problem at its file, line and field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodns.errors import Problem, ValidationError
from geodns.pools.model import Policy
from geodns.pools_file import load_pools_file, parse_pools_text

EXAMPLE = Path(__file__).resolve().parents[2] / "zones" / "pools.example.yaml"


def test_the_example_pools_file_parses() -> None:
    www, api = load_pools_file(EXAMPLE)
    assert (www.name, www.policy, www.max_answers, www.default_regions) == (
        "www.example.com.",
        Policy.WEIGHTED,
        2,
        ("us", "eu", "ap"),
    )
    assert {m.address for m in www.members if m.region == "eu"} == {
        "192.0.2.21",
        "192.0.2.22",
        "2001:db8::21",
    }
    assert [(r.value, r.regions[0]) for r in www.rules] == [
        ("EU", "eu"),
        ("AS", "ap"),
        ("OC", "ap"),
        ("NA", "us"),
    ]
    assert all(m.latitude is not None for m in www.members)
    assert api.policy is Policy.FAILOVER
    assert sorted({m.priority for m in api.members}) == [0, 1]


def test_pools_file_problems_carry_file_line_and_field_path() -> None:
    text = (
        "pools:\n"  # 1
        "  - name: a.example.com\n"  # 2
        "    members:\n"  # 3
        "      - address: 192.0.2.1\n"  # 4
        "        weight: -5\n"  # 5
        "  - name: b.example.com\n"  # 6
        "    ttl: 30\n"  # 7
        "    ttl: 60\n"  # 8
        "  - name: A.example.com.\n"  # 9
        "    colour: blue\n"  # 10
    )
    with pytest.raises(ValidationError) as raised:
        parse_pools_text(text, "pools.yaml")
    assert raised.value.subject == "pools file pools.yaml"
    assert list(raised.value.problems) == [
        Problem("pools.yaml:8", 'duplicate key "ttl" (first on line 7): keep one'),
        Problem(
            "pools.yaml:5: pools[0].members[0].weight", "must be an integer from 0 to 65535, got -5"
        ),
        Problem(
            "pools.yaml:10: pools[2].colour",
            "unknown field; expected one of: name, ttl, policy, max_answers, "
            "min_healthy_fraction, fail_open, default_regions, members, rules, check",
        ),
    ]


def test_duplicate_pool_names_in_a_file_are_a_problem() -> None:
    text = "pools:\n  - name: a.example.com\n  - name: A.EXAMPLE.COM.\n"
    with pytest.raises(ValidationError) as raised:
        parse_pools_text(text, "p.yaml")
    assert raised.value.problems == (
        Problem(
            "p.yaml:3: pools[1].name", "a.example.com. is already pools[0]; list each pool once"
        ),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "pools:\n  - name: a.example.com\n    members: [\n",
            Problem(
                "p.yaml:4",
                "YAML syntax error: expected the node content, but found '<stream end>' (column 1)",
            ),
        ),
        (
            "pools:\n  - name: a\n   ttl: 3\n",
            Problem(
                "p.yaml:3",
                "YAML syntax error: expected <block end>, but found '<block mapping start>' "
                "(column 4)",
            ),
        ),
        ("", Problem("p.yaml: (document)", 'must be a mapping with a "pools" list, got null')),
        ("pool: []\n", Problem("p.yaml:1: pool", "unknown field; expected one of: pools")),
        ("pools: {}\n", Problem("p.yaml:1: pools", "must be a list, got {}")),
    ],
    ids=["unclosed-flow", "bad-indent", "empty", "misspelt-top", "pools-not-list"],
)
def test_broken_pools_files_say_where(text: str, expected: Problem) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_pools_text(text, "p.yaml")
    assert raised.value.problems[0] == expected


def test_an_empty_pools_list_is_valid_and_an_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    assert parse_pools_text("pools: []\n", "p.yaml") == []
    with pytest.raises(ValidationError, match="cannot read"):
        load_pools_file(tmp_path / "absent.yaml")


def test_deprecated_check_fields_in_a_pools_file_are_noted_at_their_line() -> None:
    text = (
        "pools:\n"  # 1
        "  - name: a.example.com\n"  # 2
        "    check:\n"  # 3
        "      type: tcp\n"  # 4
        "      port: 80\n"  # 5
        "      interval: 5\n"  # 6
    )
    notes: list[Problem] = []
    [pool] = parse_pools_text(text, "p.yaml", notes)
    assert pool.check is not None and pool.check.interval_s == 5.0
    assert notes == [
        Problem("p.yaml:6: pools[0].check.interval", "deprecated: write interval_s (seconds)")
    ]
