"""Listen addresses as settings give them: ADDR:PORT text -> (host, port), and back.

Pure: names such as localhost are refused rather than resolved, so a setting means the
same on every host and never waits on DNS.
"""

from __future__ import annotations

import socket
from typing import Any

Endpoint = tuple[str, int]  # (host, port) as a socket binds it

DNS_PORT_DEFAULT = 5300
API_PORT_DEFAULT = 8053
HTTP_PORT_DEFAULT = 8080


def listen_endpoint(text: str, default_port: int) -> Endpoint:
    """parse_endpoint with a message an operator can act on (names are not resolved)."""
    try:
        host, port = parse_endpoint(text, default_port)
    except (OSError, ValueError):
        _, _, given = text.rpartition(":")
        port_text = given if given.isdigit() else str(default_port)
        raise ValueError(
            f"{text!r} is not ADDR:PORT with an IP address (names such as localhost are not "
            f"resolved): write 127.0.0.1:{port_text} or [::1]:{port_text}"
        ) from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is not from 0 to 65535")
    return host, port


def dns_endpoints(value: Any) -> tuple[Endpoint, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("expected one or more ADDR:PORT")
    return tuple(listen_endpoint(str(item).strip(), DNS_PORT_DEFAULT) for item in items)


def api_endpoint(value: Any) -> Endpoint | None:
    if value in ("", "off", "none", False):
        return None
    return listen_endpoint(str(value), API_PORT_DEFAULT)


def http_endpoint(value: Any) -> Endpoint | None:
    if value in ("", "off", "none", False, None):
        return None
    return listen_endpoint(str(value), HTTP_PORT_DEFAULT)


def format_endpoint(endpoint: Endpoint) -> str:
    host, port = endpoint
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_endpoint(text: str, default_port: int) -> Endpoint:
    """'127.0.0.1:5300', '[::1]:5300', '::1', '127.0.0.1' -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    return host, int(port) if port else default_port
