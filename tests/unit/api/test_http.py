"""How the API speaks HTTP, pure parts (geodns.api.http): merge patch, cursors, the error
body, If-Match."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from geodns.api.http import (
    encode_cursor,
    error_body,
    etag,
    if_match,
    json_depth,
    merge_patch,
    problem_documents,
)
from geodns.errors import Problem


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7396 Appendix A, a selection
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc7396_appendix_a(target, patch, result) -> None:
    assert merge_patch(target, patch) == result


def test_a_cursor_is_opaque_url_safe_text_without_padding() -> None:
    cursor = encode_cursor("www.example.com.")
    assert "=" not in cursor and "/" not in cursor and "www" not in cursor


def test_the_error_body_always_has_error_problems_and_request_id() -> None:
    problems = [Problem("members[2].weight", "must be an integer from 0 to 65535, got -1")]
    assert error_body("invalid pool x.", problems, "req-1") == {
        "error": "invalid pool x.",
        "problems": [{"where": "members[2].weight", "message": problems[0].message}],
        "request_id": "req-1",
    }
    assert error_body("Not Found", (), "req-2")["problems"] == []
    assert problem_documents(problems) == error_body("", problems, "")["problems"]


@pytest.mark.parametrize(
    ("header", "versions"),
    [
        (None, None),
        ("*", None),
        ('"3"', {3}),
        ('"3", "5"', {3, 5}),
        ('W/"3"', set()),  # RFC 9110 §13.1.1: If-Match compares strongly
        ('"abc"', set()),
    ],
    ids=["absent", "star", "one", "two", "weak", "not-ours"],
)
def test_if_match_gives_the_versions_a_write_may_replace(header, versions) -> None:
    headers = {} if header is None else {"If-Match": header}
    request = make_mocked_request("PUT", "/api/v1/pools/x", headers=headers)
    assert if_match(request) == versions
    if versions:
        assert all(etag(v) in header for v in versions)


@pytest.mark.parametrize(
    ("value", "depth"),
    [(0, 0), ([], 1), ({"a": [1, {"b": []}]}, 4), ([[0], [[[0]]]], 4), ({"a": "[[["}, 1)],
    ids=["scalar", "empty-list", "mixed", "widest-branch-is-not-deepest", "text-is-not-nesting"],
)
def test_json_depth_counts_arrays_and_objects_inside_one_another(value, depth):
    assert json_depth(value) == depth


def test_json_depth_walks_what_recursion_could_not():
    value: object = 0
    for _ in range(100_000):
        value = [value]
    assert json_depth(value) == 100_000
