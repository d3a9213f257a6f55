"""`geodns probe --check` templates and options; the probe against HTTP is integration."""

from __future__ import annotations

from typing import Any

import pytest

from geodns.errors import ConfigError
from geodns.health.remote_probe import parse_check_template, probe_options
from geodns.pools.model import Check, CheckType


@pytest.mark.parametrize(
    ("template", "check"),
    [
        ("http://{address}:80/health", Check(CheckType.HTTP, port=80, path="/health")),
        ("http://{address}/", Check(CheckType.HTTP, path="/")),
        ("http://{address}", Check(CheckType.HTTP, path="/")),
        ("https://{address}/status?full=1", Check(CheckType.HTTPS, path="/status?full=1")),
        ("https://{address}:8443/", Check(CheckType.HTTPS, port=8443, path="/")),
        ("tcp://{address}:443", Check(CheckType.TCP, port=443)),
    ],
    ids=["http-port-path", "http-root", "http-bare", "https-query", "https-port", "tcp"],
)
def test_check_templates_parse_to_checks(template: str, check: Check) -> None:
    assert parse_check_template(template) == check


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("tcp://{address}", "tcp needs a port"),
        ("tcp://{address}:443/x", "a tcp check has no path"),
        ("http://{address}:70000/", "port 70000 is not in 1..65535"),
        ("http://192.0.2.1/health", "expected a URL like"),
        ("ftp://{address}/", "expected a URL like"),
        ("{address}:80", "expected a URL like"),
    ],
    ids=["tcp-no-port", "tcp-path", "port-range", "no-placeholder", "scheme", "no-scheme"],
)
def test_bad_templates_say_what_would_be_right(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_check_template(template)


def test_options_carry_interval_timeout_rise_fall_and_check_fields() -> None:
    options = probe_options(
        "http://127.0.0.1:8053/",
        "secret",
        ["www.example.com"],
        "https://{address}/health",
        interval_s=5,
        timeout_s=1.5,
        rise=1,
        fall=2,
        tls_verify=False,
        body_contains="ok",
    )
    assert options.api == "http://127.0.0.1:8053"
    assert options.check == Check(
        CheckType.HTTPS,
        path="/health",
        interval_s=5,
        timeout_s=1.5,
        rise=1,
        fall=2,
        tls_verify=False,
        body_contains="ok",
    )
    assert "secret" not in repr(options)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pools": []}, "at least one --pool"),
        ({"interval_s": 0}, "must be positive"),
        ({"ttl_s": -1}, "--ttl must be positive"),
    ],
    ids=["no-pool", "interval", "ttl"],
)
def test_bad_options_are_config_errors(changes: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"pools": ["www.example.com"]} | changes
    with pytest.raises(ConfigError, match=message):
        probe_options("http://127.0.0.1:8053", "t", check="tcp://{address}:80", **values)
