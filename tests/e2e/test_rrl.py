"""Response rate limiting end to end, as BIND's system test (bin/tests/system/rrl) does it:
bursts of UDP queries from one loopback source within a second, counted answered /
truncated / dropped against the configured rate and slip; another source served at the
same time; TCP never limited; recovery after the window; log_only drops nothing.

Counts are compared with a tolerance of one, as BIND's `range` check does: a burst can
straddle the start of a second, which credits the bucket. Each test asks for names of
its own, so no test inherits another's debt. Every test runs on both data planes (the
data_plane fixture): the native loop's limiter is held to the same counts.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest
from conftest import serve_test_zones
from harness import GeodnsProcess

pytestmark = pytest.mark.e2e

# bin/tests/system/rrl/ns2/named.conf
BIND_RRL = ["--rrl-responses-per-second", "2", "--rrl-slip", "3", "--rrl-window-s", "2"]


def second_start() -> None:
    """Wait until just after a second begins, as tests.sh's sec_start does."""
    now = time.time()
    time.sleep(1 - (now - int(now)) + 0.02)


def burst(
    server: GeodnsProcess, names: list[str], source: str = "127.0.0.1", rdtype: str = "A"
) -> Counter[str]:
    """Send every query at once from source, then count what came back within a second:
    'answer' (NOERROR with records), 'nxdomain', 'tc', 'drop'."""
    queries = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for name in names:
            query = dns.message.make_query(name, rdtype)
            while query.id in queries:
                query.id = (query.id + 1) % 65536
            queries[query.id] = query
            sock.sendto(query.to_wire(), (server.host, server.port))
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 1.0
        while sum(seen.values()) < len(queries) and time.monotonic() < deadline:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data = sock.recv(65535)
            except TimeoutError:
                break
            reply = dns.message.from_wire(data)
            assert reply.id in queries
            if reply.flags & dns.flags.TC:
                seen["tc"] += 1
            elif reply.rcode() == dns.rcode.NXDOMAIN:
                seen["nxdomain"] += 1
            else:
                assert reply.rcode() == dns.rcode.NOERROR and reply.answer
                seen["answer"] += 1
    seen["drop"] = len(queries) - sum(seen.values())
    return seen


def near(seen: Counter[str], **expected: int) -> bool:
    return all(abs(seen[k] - v) <= 1 for k, v in expected.items())


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, data_plane: str) -> Iterator[GeodnsProcess]:
    server = serve_test_zones(tmp_path_factory.mktemp("rrl"), *BIND_RRL, data_plane=data_plane)
    yield server
    server.stop()


def metrics(server: GeodnsProcess) -> str:
    with urllib.request.urlopen(server.api + "/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_identical_answers_beyond_the_rate_are_dropped_or_slipped_as_bind_counts(limited):
    """tests.sh: 3, then a second later 10 queries: 3 answered, 4 TC, 6 dropped."""
    second_start()
    seen = burst(limited, ["www.example.test."] * 3)
    second_start()
    seen += burst(limited, ["www.example.test."] * 10)
    assert near(seen, answer=3, tc=4, drop=6), seen


def test_different_nxdomain_names_of_a_zone_are_limited_together(limited):
    """tests.sh: 10 different NXDOMAIN names: 2 answered, 3 TC (TC replies keep NXDOMAIN),
    5 dropped."""
    second_start()
    seen = burst(limited, [f"z{n}.example.test." for n in range(10)])
    assert near(seen, nxdomain=2, tc=3, drop=5), seen


def test_another_client_is_served_while_one_is_limited(limited):
    second_start()
    flood = burst(limited, ["mail.example.test."] * 30, source="127.0.0.1")
    other = burst(limited, ["mail.example.test."] * 2, source="127.0.1.1")  # another /24
    assert flood["drop"] >= 15, flood
    assert other == {"answer": 2, "drop": 0}, other


def test_tcp_is_never_limited(limited):
    query = dns.message.make_query("sip.example.test.", "A")
    replies = [dns.query.tcp(query, limited.host, port=limited.port, timeout=2) for _ in range(10)]
    assert all(r.answer and not r.flags & dns.flags.TC for r in replies)


def test_a_limited_client_is_answered_again_after_the_window(limited):
    second_start()
    flood = burst(limited, ["ns1.example.test."] * 20)
    assert flood["drop"] > 10, flood
    time.sleep(2 + 1.1)  # rrl_window_s 2: the debt is capped at 2 s of credit
    assert burst(limited, ["ns1.example.test."])["answer"] == 1


def test_the_counters_and_the_log_say_what_was_limited(limited, data_plane):
    text = metrics(limited)
    if data_plane == "native":  # the C loop answered (and limited) repeats itself
        hits = re.search(r'geodns_native_queries_total\{outcome="hit"\} (\d+)', text)
        assert hits and int(hits.group(1)) > 10, text
    dropped = re.search(r'geodns_rrl_dropped_total\{category="response"\} (\d+)', text)
    slipped = re.search(r'geodns_rrl_slipped_total\{category="response"\} (\d+)', text)
    assert dropped and int(dropped.group(1)) > 0, text
    assert slipped and int(slipped.group(1)) > 0, text
    assert re.search(r"geodns_rrl_table_entries \d+", text)
    limited.wait_for_log(
        r"rrl started limiting client=127\.0\.0\.0/24 key=response www\.example\.test\. type=1"
    )


def test_log_only_drops_nothing_and_says_what_it_would_limit(tmp_path: Path, data_plane: str):
    server = serve_test_zones(tmp_path, *BIND_RRL, "--rrl-log-only", data_plane=data_plane)
    try:
        second_start()
        seen = burst(server, ["www.example.test."] * 20)
        assert seen == {"answer": 20, "drop": 0}, seen
        server.wait_for_log(r"rrl started limiting client=127\.0\.0\.0/24 .* log_only=true")
        assert re.search(r'geodns_rrl_dropped_total\{category="response"\} [1-9]', metrics(server))
    finally:
        server.stop()
