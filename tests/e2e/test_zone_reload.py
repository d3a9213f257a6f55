"""A zone reload that fails says so everywhere an operator looks, and the old zone keeps
serving (issue 12 §6): 422 with file:line problems from the API, /readyz degraded with
the zone and the error, a metric per zone, a log without a reassuring "zone loaded"
after the WARNING; a serial that goes backwards (RFC 1982) is a WARNING."""

from __future__ import annotations

import json
import re
import signal
import urllib.error
import urllib.request
from typing import Any

import pytest
from harness import GeodnsProcess, create_token
from polling import within

pytestmark = pytest.mark.e2e


def call(server: GeodnsProcess, method: str, path: str, token: str | None = None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(server.api + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def load_failures(server: GeodnsProcess, zone: str) -> float:
    _, text = call(server, "GET", "/metrics")
    match = re.search(
        rf'^geodns_zone_load_failures_total{{zone="{re.escape(zone)}"}} (\S+)$', text, re.M
    )
    return float(match.group(1)) if match else 0.0


def served(server: GeodnsProcess, qname: str, *, tcp: bool) -> set[str]:
    reply = server.query(qname, "A", tcp=tcp)
    return {r.to_text() for rrset in reply.answer for r in rrset}


def test_a_refused_reload_is_422_degraded_counted_and_the_old_zone_serves(
    fresh_geodns_server, tmp_path
):
    server = fresh_geodns_server
    token = create_token(f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}", "editor", "ops")
    other = tmp_path / "zones" / "other.test.zone"
    good = other.read_text()
    assert call(server, "GET", "/readyz")[1]["status"] == "ready"
    assert load_failures(server, "other.test.") == 0
    # serial up, the address changed, and one bad line: nothing of it may be served
    other.write_text(
        good.replace(" 7 ", " 8 ").replace("192.0.2.200", "192.0.2.201") + "www A 300.1.2.3\n"
    )
    mark = len(server.lines)
    status, body = call(server, "POST", "/api/v1/zones/reload", token)
    assert status == 422, body
    assert set(body) == {"error", "problems", "request_id"}
    assert body["error"] == (
        f"zone reload refused 1 file(s), their previous data still served: {other} (other.test.)"
    )
    assert [p["where"] for p in body["problems"]] == [f"{other}:7"]
    assert "300.1.2.3" in body["problems"][0]["message"]
    for tcp in (False, True):
        assert served(server, "www.other.test.", tcp=tcp) == {"192.0.2.200"}
        assert served(server, "www.example.test.", tcp=tcp) == {"192.0.2.10"}  # loaded
    status, ready = call(server, "GET", "/readyz")
    assert status == 200 and ready["ready"] is True and ready["status"] == "degraded"
    [refused] = ready["zones_refused"]
    assert (refused["zone"], refused["file"], refused["serving_serial"]) == (
        "other.test.",
        str(other),
        7,
    )
    assert refused["problems"] == body["problems"]
    assert ready["reasons"] == [f"zone other.test. refused ({other}): serving serial 7"]
    assert load_failures(server, "other.test.") == 1
    assert load_failures(server, "example.test.") == 0
    # the log: the WARNING, and no "zone loaded" for that zone anywhere after it
    after = "".join(server.lines[mark:])
    assert re.search(
        rf"WARNING .*zone refused file={re.escape(str(other))} kept_previous=True "
        r"zone=other.test. serving_serial=7",
        after,
    ), after
    assert "zone loaded zone=example.test." in after
    assert "zone loaded zone=other.test." not in after
    # SIGHUP is the same reload: counted again, still the old data
    server.process.send_signal(signal.SIGHUP)
    within(10, lambda: load_failures(server, "other.test.") == 2, "SIGHUP's reload counted")
    assert served(server, "www.other.test.", tcp=False) == {"192.0.2.200"}
    # fixed: served, ready again, the count stays what happened
    other.write_text(good.replace(" 7 ", " 8 ").replace("192.0.2.200", "192.0.2.201"))
    status, body = call(server, "POST", "/api/v1/zones/reload", token)
    assert status == 200, body
    assert served(server, "www.other.test.", tcp=True) == {"192.0.2.201"}
    assert call(server, "GET", "/readyz")[1]["status"] == "ready"
    assert load_failures(server, "other.test.") == 2


def test_a_reload_that_takes_the_serial_backwards_is_a_warning_rfc1982(
    fresh_geodns_server, tmp_path
):
    server = fresh_geodns_server
    token = create_token(f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}", "editor", "ops")
    zone = tmp_path / "zones" / "example.test.zone"
    text = zone.read_text()
    zone.write_text(text.replace("2026112201", "2026112101").replace("192.0.2.10", "192.0.2.11"))
    mark = len(server.lines)
    status, body = call(server, "POST", "/api/v1/zones/reload", token)
    assert status == 200, body  # loaded: a lower serial is a mistake to say, not to refuse
    assert served(server, "www.example.test.", tcp=False) == {"192.0.2.11"}
    after = "".join(server.lines[mark:])
    assert re.search(
        r"WARNING .*zone serial went backwards zone=example.test. serial=2026112101 "
        r"previous=2026112201",
        after,
    ), after
    assert "went backwards zone=other.test." not in after  # same serial: nothing to say
    # the wrap RFC 1982 allows is forward: 4294967295 -> 3 after a step to the top
    zone.write_text(text.replace("2026112201", "4294967295"))
    call(server, "POST", "/api/v1/zones/reload", token)
    zone.write_text(text.replace("2026112201", "3"))
    mark = len(server.lines)
    assert call(server, "POST", "/api/v1/zones/reload", token)[0] == 200
    assert "went backwards" not in "".join(server.lines[mark:])
