"""Reading a document's fields (geodns.pools.fields): every bad field one problem, names."""

from __future__ import annotations

import pytest

from geodns.errors import Problem
from geodns.pools.fields import FieldReader, at, name_problem, normalise_name, show


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", '"abc"'), (3, "3"), (True, "true"), (None, "null"), ([1, 2], "[1, 2]")],
)
def test_values_are_shown_as_the_user_wrote_them_in_json_or_yaml(value, shown) -> None:
    assert show(value) == shown


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("www.example.com", None),
        ("_sip._tcp.example.com.", None),
        ("a..b", 'empty label in "a..b": write the name without doubled dots'),
        ("x" * 64 + ".com", f'label "{"x" * 20}..." is 64 characters, over 63'),
        (".".join(["a" * 63] * 4), "name is 257 bytes in wire form, over 255"),  # RFC 1035 §2.3.4
        (".", 'must be a domain name such as www.example.com, got "."'),
    ],
    ids=["plain", "underscores", "empty-label", "long-label", "long-name", "root"],
)
def test_pool_names_follow_rfc1035_limits(name, problem) -> None:
    assert name_problem(name) == problem


def test_names_are_kept_lower_case_and_fully_qualified() -> None:
    assert normalise_name("WWW.Example.COM") == "www.example.com."
    assert normalise_name("www.example.com.") == "www.example.com."


def test_a_reader_collects_every_bad_field_and_keeps_reading() -> None:
    problems: list[Problem] = []
    reader = FieldReader(problems)
    fields = reader.mapping({"ttl": 0, "colour": "red"}, "", ("ttl",), also=("old",))
    assert fields is not None
    assert reader.integer(fields["ttl"], at("", "ttl"), 1, 3600) is None
    assert reader.mapping({"old": 1}, "check", ("new",), also=("old",)) == {"old": 1}
    assert problems == [
        Problem("colour", "unknown field; expected one of: ttl"),
        Problem("ttl", "must be an integer from 1 to 3600, got 0"),
    ]
    reader.deprecated("check.old", "deprecated: write new")
    assert reader.notes == [Problem("check.old", "deprecated: write new")]
    assert problems[-1] != reader.notes[0]  # a deprecation is a note, never a problem
