"""Who the HTTP client is: Forwarded (RFC 7239) and X-Forwarded-For, believed from trusted
proxies only, read from the right."""

from __future__ import annotations

import ipaddress

import pytest

from geodns.redirect.forwarded import (
    Address,
    client_address,
    format_address,
    forwarded_for,
    parse_address,
    trusted_networks,
)

PROXIES = trusted_networks(
    [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48")]
)


def at(text: str) -> Address:
    found = parse_address(text)
    assert found is not None
    return found


PROXY = at("10.0.0.5")
STRANGER = at("198.51.100.7")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.60", "192.0.2.60"),
        (" 192.0.2.60:4711 ", "192.0.2.60"),
        ("[2001:db8:cafe::17]:4711", "2001:db8:cafe::17"),
        ("2001:db8:cafe::17", "2001:db8:cafe::17"),
        ("::ffff:192.0.2.60", "192.0.2.60"),
        ("unknown", None),
        ("_hidden", None),  # RFC 7239 §6.3 obfuscated identifier
        ("", None),
    ],
    ids=["v4", "v4-port", "v6-port", "v6", "v4-mapped", "unknown", "obfuscated", "empty"],
)
def test_hop_addresses_parse_with_or_without_ports(text: str, expected: str | None) -> None:
    found = parse_address(text)
    assert (None if found is None else format_address(found)) == expected


def test_forwarded_for_values_rfc7239_s4() -> None:
    header = 'for=192.0.2.43;proto=http, by=203.0.113.43, For="[2001:db8:cafe::17]:4711";host=x'
    assert forwarded_for(header) == ["192.0.2.43", "", "[2001:db8:cafe::17]:4711"]
    assert forwarded_for('for="_gazonk"') == ["_gazonk"]
    assert forwarded_for('for="a\\"b,c", for=192.0.2.1') == ['a"b,c', "192.0.2.1"]


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    assert client_address(STRANGER, PROXIES, "for=192.0.2.1", "192.0.2.2") == STRANGER
    assert client_address(STRANGER, (), None, "192.0.2.2") == STRANGER


def test_a_trusted_proxy_passes_on_the_first_untrusted_hop_from_the_right() -> None:
    # the client wrote 203.0.113.9 itself; 192.0.2.1 is what our proxy 10.0.0.9 saw
    xff = "203.0.113.9, 192.0.2.1, 10.0.0.9"
    assert format_address(client_address(PROXY, PROXIES, None, xff)) == "192.0.2.1"


def test_forwarded_wins_over_x_forwarded_for() -> None:
    found = client_address(PROXY, PROXIES, 'for="[2001:db8::1]:80"', "192.0.2.2")
    assert format_address(found) == "2001:db8::1"


def test_an_unreadable_hop_stops_at_the_last_trusted_address() -> None:
    assert (
        format_address(client_address(PROXY, PROXIES, "for=unknown, for=10.0.0.9", None))
        == "10.0.0.9"
    )
    assert format_address(client_address(PROXY, PROXIES, None, "garbage")) == "10.0.0.5"


def test_a_trusted_peer_without_forwarding_headers_is_the_client() -> None:
    assert client_address(PROXY, PROXIES, None, None) == PROXY
    assert format_address(client_address(PROXY, PROXIES, None, "10.0.0.7, 10.0.0.8")) == "10.0.0.7"
