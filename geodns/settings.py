"""Settings: embedded defaults < TOML file < GEODNS_* environment < command-line flags.

Pure: load_settings() takes the flags, the environment and the TOML text as values
(the CLI reads the file), so tests pass dicts. Unknown keys are errors that list
the valid ones; the database URL's password never reaches repr or logs. The one place
that reads the process environment is process_environment(), here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geodns.dnssec.sealing import MIN_SECRET_CHARS
from geodns.endpoints import (
    API_PORT_DEFAULT,
    DNS_PORT_DEFAULT,
    Endpoint,
    api_endpoint,
    dns_endpoints,
    format_endpoint,
    http_endpoint,
)
from geodns.errors import ConfigError

ENV_PREFIX = "GEODNS_"
# test-suite variables, the config path itself, the remote probe's token
ENV_IGNORED = ("GEODNS_TEST_", "GEODNS_CONFIG", "GEODNS_PROBE_TOKEN")


def process_environment() -> dict[str, str]:
    """A copy of this process's environment: what load_settings, the remote probe's token
    and the worker processes' environment start from (nothing else reads os.environ)."""
    return dict(os.environ)


def mask_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@dataclass(frozen=True)
class Layers:
    """Where a Settings came from, so it can be read again: on SIGHUP (a changed TOML
    file's dns_allow / dns_deny), and by the worker processes --workers starts."""

    flags: Mapping[str, Any] = field(default_factory=dict)  # the flags that were given
    environ: Mapping[str, str] = field(default_factory=dict)  # the GEODNS_* variables
    config: str | None = None  # the TOML file, if there was one


@dataclass(frozen=True)
class Settings:
    dns: tuple[Endpoint, ...] = (("127.0.0.1", DNS_PORT_DEFAULT),)
    zones: Path = Path("zones")
    api: Endpoint | None = ("127.0.0.1", API_PORT_DEFAULT)
    database_url: str = field(default="sqlite+aiosqlite:///geodns.db", repr=False)
    geoip_db: str | None = None  # None: the bundled GeoLite2 City database
    geoip_bundled: bool = True  # False with no geoip_db: no geo, everyone gets default order
    workers: int = 1
    tcp_idle_timeout_s: float = 10.0
    tcp_max_connections: int = 1000
    tcp_max_connections_per_client: int = 32  # per source address (/32, /128)
    poll_interval_s: float = 0.25  # between generation polls (SQLite; PostgreSQL's safety net)
    database_connect_timeout_s: float = 3.0  # geodns.store.engine.StoreTimeouts
    database_statement_timeout_s: float = 5.0
    readiness_timeout_s: float = 1.0  # /readyz's database probe
    node_name: str = ""  # this node's name as a health probe; "" = the host name
    log_level: str = "info"
    query_log: bool = False
    worker: bool = False  # set by --workers for the processes it starts: DNS only
    health_quorum: int = 0  # down votes that take an address out; 0: a strict majority
    flap_max_changes: int = 4  # more state changes than this within flap_window_s...
    flap_window_s: float = 300.0
    flap_hold_s: float = 120.0  # ...hold the address down until stable this long
    # each deprecated spelling the layers used, to be logged once at start (not compared)
    deprecations: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # opens the DNSSEC private keys sealed in the database; "" = this node cannot sign
    dnssec_key_secret: str = field(default="", repr=False)
    http: Endpoint | None = None  # the HTTP redirector's listen address; None: off
    http_pool_in_path: bool = False  # /POOL/PATH instead of Host: POOL
    # peers whose Forwarded / X-Forwarded-For the redirector believes
    http_trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    http_idle_timeout_s: float = 10.0
    http_max_connections: int = 1000
    # the REST API's own limits (geodns/api/connections.py), apart from DNS over TCP's
    api_header_timeout_s: float = 5.0  # request line and headers, from connect or last reply
    api_body_timeout_s: float = 10.0  # the whole body, from the end of the headers
    api_max_connections: int = 256
    api_tls_cert: str | None = None  # PEM certificate chain; with api_tls_key: HTTPS
    api_tls_key: str | None = None
    metrics_require_token: bool = False  # /metrics asks for a token (any role)
    # response rate limiting (BIND's rate-limit; geodns/answer/rrl.py): 0 = off
    rrl_responses_per_second: int = 0
    rrl_nodata_per_second: int | None = None  # None: the responses value
    rrl_nxdomains_per_second: int | None = None
    rrl_referrals_per_second: int | None = None
    rrl_errors_per_second: int | None = None
    rrl_all_per_second: int = 0  # every response to one client block; 0 = no such limit
    rrl_window_s: int = 15  # 1 to 3600
    rrl_slip: int = 2  # every slip-th limited response is truncated (0: none, 1: all)
    rrl_ipv4_prefix: int = 24
    rrl_ipv6_prefix: int = 56
    rrl_exempt: tuple[str, ...] = ()  # CIDR networks never limited
    rrl_log_only: bool = False
    rrl_max_entries: int = 20000
    # who may ask (geodns/answer/acl.py): deny wins, an empty allow list lets everyone in
    dns_allow: tuple[str, ...] = ()
    dns_deny: tuple[str, ...] = ()
    dns_deny_action: str = "refuse"  # REFUSED with EDE 18, or "drop"
    cookies: bool = True  # DNS cookies (RFC 7873, server cookies as RFC 9018)
    require_server_cookie: bool = False  # UDP + client cookie: BADCOOKIE unless a valid server one
    nsid: str | None = None  # RFC 5001's identifier, sent when asked; "hostname": the host name
    layers: Layers = field(default_factory=Layers, compare=False, repr=False)
    data_plane: str = "auto"  # who answers UDP: native (the C loop), python, auto: native if built

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.repr and f.name not in ("database_url", "dnssec_key_secret")
        )
        secret = "***" if self.dnssec_key_secret else ""
        return (
            f"Settings(database_url={mask_url(self.database_url)!r}, {fields}, "
            f"dnssec_key_secret={secret!r})"
        )

    def describe_dns(self) -> str:
        return " ".join(format_endpoint(e) for e in self.dns)


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of networks such as 10.0.0.0/8, 2001:db8::/32")
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"not a network such as 10.0.0.0/8 or 2001:db8::/32: {text!r}"
            ) from None
    return tuple(networks)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _integer(value: Any, low: int, expected: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if isinstance(value, bool | float) or number < low:
        raise ValueError(f"expected {expected}, got {value!r}")
    return number


def _positive_int(value: Any) -> int:
    return _integer(value, 1, "a positive integer")


def _non_negative_int(value: Any) -> int:
    return _integer(value, 0, "0 or a positive integer")


def _number(value: Any, positive: bool, expected: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if (
        isinstance(value, bool)
        or not math.isfinite(number)
        or number < 0
        or (positive and number == 0)
    ):
        raise ValueError(f"expected {expected}, got {value!r}")
    return number


def _non_negative_float(value: Any) -> float:
    return _number(value, False, "0 or a positive number")


def _positive_float(value: Any) -> float:
    return _number(value, True, "a positive number")


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _secret(value: Any) -> str:
    """A secret worth its name; the message never repeats the value."""
    text = str(value)
    if text and len(text) < MIN_SECRET_CHARS:
        raise ValueError(
            f"must be at least {MIN_SECRET_CHARS} random characters "
            "(geodns dnssec secret prints one), or empty"
        )
    return text


def _bounded_int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = _integer(value, low, f"an integer from {low} to {high}")
        if number > high:
            raise ValueError(f"expected an integer from {low} to {high}, got {value!r}")
        return number

    return parse


def _optional_rate(value: Any) -> int | None:
    """A per-second rate, or empty for the default it takes from another setting."""
    return None if value in (None, "") else _non_negative_int(value)


def _cidr_list(value: Any) -> tuple[str, ...]:
    """CIDR networks, as a TOML list or a comma-separated string; host bits masked off."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("expected a list of CIDR networks such as 192.0.2.0/24")
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"{text!r} is not a CIDR network such as 192.0.2.0/24") from None
    return tuple(networks)


def _one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:  # one of choices, in any case
        if (text := str(value).strip().lower()) not in choices:
            raise ValueError(f"expected {', '.join(choices[:-1])} or {choices[-1]}, got {value!r}")
        return text

    return parse


PARSERS: dict[str, Callable[[Any], Any]] = {
    "dns": dns_endpoints,
    "zones": lambda v: Path(str(v)),
    "api": api_endpoint,
    "database_url": str,
    "geoip_db": _optional_str,
    "geoip_bundled": _bool,
    "workers": _positive_int,
    "tcp_idle_timeout_s": _positive_float,
    "tcp_max_connections": _positive_int,
    "tcp_max_connections_per_client": _positive_int,
    "poll_interval_s": _positive_float,
    "database_connect_timeout_s": _positive_float,
    "database_statement_timeout_s": _positive_float,
    "readiness_timeout_s": _positive_float,
    "node_name": str,
    "log_level": _one_of("debug", "info", "warning", "error"),
    "query_log": _bool,
    "worker": _bool,
    "health_quorum": _non_negative_int,
    "flap_max_changes": _positive_int,
    "flap_window_s": _positive_float,
    "flap_hold_s": _non_negative_float,
    "dnssec_key_secret": _secret,
    "http": http_endpoint,
    "http_pool_in_path": _bool,
    "http_trusted_proxies": _networks,
    "http_idle_timeout_s": _positive_float,
    "http_max_connections": _positive_int,
    "api_header_timeout_s": _positive_float,
    "api_body_timeout_s": _positive_float,
    "api_max_connections": _positive_int,
    "api_tls_cert": _optional_str,
    "api_tls_key": _optional_str,
    "metrics_require_token": _bool,
    "rrl_responses_per_second": _non_negative_int,
    "rrl_nodata_per_second": _optional_rate,
    "rrl_nxdomains_per_second": _optional_rate,
    "rrl_referrals_per_second": _optional_rate,
    "rrl_errors_per_second": _optional_rate,
    "rrl_all_per_second": _non_negative_int,
    "rrl_window_s": _bounded_int(1, 3600),
    "rrl_slip": _bounded_int(0, 10),
    "rrl_ipv4_prefix": _bounded_int(0, 32),
    "rrl_ipv6_prefix": _bounded_int(0, 128),
    "rrl_exempt": _cidr_list,
    "rrl_log_only": _bool,
    "rrl_max_entries": _positive_int,
    "dns_allow": _cidr_list,
    "dns_deny": _cidr_list,
    "dns_deny_action": _one_of("refuse", "drop"),
    "cookies": _bool,
    "require_server_cookie": _bool,
    "nsid": _optional_str,
    "data_plane": _one_of("auto", "native", "python"),
}
# Spellings from before the unit joined the name: still read (TOML key, GEODNS_* name, flag),
# each use noted in Settings.deprecations. The new spelling wins when a layer has both.
DEPRECATED = {
    "tcp_idle_timeout": "tcp_idle_timeout_s",
    "poll_interval": "poll_interval_s",
    "flap_window": "flap_window_s",
    "flap_hold": "flap_hold_s",
}


# set by geodns itself (--workers for its worker processes), never by an operator: accepted,
# but not offered in the lists of valid names
INTERNAL = frozenset({"worker"})


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    toml_text: str | None = None,
    toml_source: str = "config",
) -> Settings:
    """Merge the layers; raise ConfigError naming every bad key or value."""
    problems: list[str] = []
    notes: list[str] = []
    merged: dict[str, Any] = {}
    if toml_text is not None:
        try:
            document = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_source}: not valid TOML: {exc}") from exc
        layer: dict[str, tuple[Any, str]] = {}
        for key, value in document.items():
            if key in DEPRECATED:
                new = DEPRECATED[key]
                notes.append(f"{toml_source}: {key} is deprecated: write {new} (seconds)")
                layer.setdefault(new, (value, f"{toml_source}: {key}"))
            elif key not in PARSERS:
                valid = ", ".join(k for k in PARSERS if k not in INTERNAL)
                problems.append(f"{toml_source}: unknown key {key!r} (valid: {valid})")
            else:
                layer[key] = (value, f"{toml_source}: {key}")
        merged.update(layer)
    layer = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_IGNORED):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key in DEPRECATED:
            new = DEPRECATED[key]
            notes.append(f"environment {name} is deprecated: use {ENV_PREFIX}{new.upper()}")
            layer.setdefault(new, (value, f"environment {name}"))
        elif key not in PARSERS:
            valid = ", ".join(ENV_PREFIX + k.upper() for k in PARSERS if k not in INTERNAL)
            problems.append(f"environment: unknown variable {name} (valid: {valid})")
        else:
            layer[key] = (value, f"environment {name}")
    merged.update(layer)
    layer = {}
    for key, value in flags.items():
        if value is None:
            continue
        flag = f"--{key.replace('_', '-')}"
        if key in DEPRECATED:
            new = DEPRECATED[key]
            notes.append(f"{flag} is deprecated: use --{new.replace('_', '-')}")
            layer.setdefault(new, (value, flag))
        else:
            layer[key] = (value, flag)
    merged.update(layer)
    values: dict[str, Any] = {}
    for key, (raw, origin) in merged.items():
        try:
            values[key] = PARSERS[key](raw)
        except (ValueError, TypeError, OSError) as exc:
            problems.append(f"{origin}: {exc}")
    if bool(values.get("api_tls_cert")) != bool(values.get("api_tls_key")):
        problems.append("api_tls_cert and api_tls_key: give both (HTTPS) or neither (HTTP)")
    if len(problems) == 1:  # one cause, one line
        raise ConfigError(f"invalid setting: {problems[0]}")
    if problems:
        raise ConfigError("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))
    given = {key: value for key, value in flags.items() if value is not None}
    geodns_environ = {
        name: value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and not name.startswith(ENV_IGNORED)
    }
    config = toml_source if toml_text is not None else None
    return Settings(
        **values, deprecations=tuple(notes), layers=Layers(given, geodns_environ, config)
    )


def as_environment(key: str, value: Any) -> str:
    """A flag's value as its GEODNS_* variable would say it (lists comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)
