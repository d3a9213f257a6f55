"""Server cookies as RFC 9018 makes them: its Appendix A vectors, the validity window of
§4.3, and a rotated secret still accepted for an hour."""

from __future__ import annotations

import socket

import pytest

from geodns.dns.cookie import CookieSecrets, make_server_cookie, server_cookie_valid

# RFC 9018 Appendix A.1 and A.2: a resolver at 198.51.100.100 and its client cookie
RFC_SECRET = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")
RFC_CLIENT = bytes.fromhex("2464c4abcf10c957")
RFC_ADDRESS = socket.inet_aton("198.51.100.100")
NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1559731985, "010000005cf79f111f8130c3eee29480"),  # A.1: learning a server cookie
        (1559734385, "010000005cf7a871d4a564a1442aca77"),  # A.2: the same client, later
    ],
    ids=["appendix-a1", "appendix-a2"],
)
def test_server_cookie_is_rfc9018_appendix_a_vector(timestamp, expected):
    assert make_server_cookie(RFC_SECRET, RFC_CLIENT, RFC_ADDRESS, timestamp).hex() == expected


@pytest.mark.parametrize(
    ("made_at", "valid"),
    [
        (NOW - 3600, True),
        (NOW - 3601, False),  # RFC 9018 §4.3: older than an hour
        (NOW + 300, True),
        (NOW + 301, False),  # more than five minutes ahead
        (NOW, True),
    ],
    ids=["hour-old", "over-an-hour", "five-minutes-ahead", "further-ahead", "now"],
)
def test_a_server_cookie_is_valid_an_hour_back_and_five_minutes_ahead_rfc9018_s4_3(made_at, valid):
    secrets = CookieSecrets(RFC_SECRET)
    cookie = make_server_cookie(RFC_SECRET, RFC_CLIENT, RFC_ADDRESS, made_at)
    assert server_cookie_valid(secrets, RFC_CLIENT, cookie, RFC_ADDRESS, NOW) is valid


def test_the_timestamp_compares_by_serial_number_arithmetic_across_the_wrap_rfc1982():
    now = 2**32 + 100  # the 32-bit timestamp wrapped 100 s ago
    cookie = make_server_cookie(RFC_SECRET, RFC_CLIENT, RFC_ADDRESS, now - 200)
    assert server_cookie_valid(CookieSecrets(RFC_SECRET), RFC_CLIENT, cookie, RFC_ADDRESS, now)


def test_a_cookie_for_another_address_client_cookie_version_or_secret_is_refused():
    secrets = CookieSecrets(RFC_SECRET)
    cookie = make_server_cookie(RFC_SECRET, RFC_CLIENT, RFC_ADDRESS, NOW)
    other_address = socket.inet_aton("198.51.100.101")
    assert server_cookie_valid(secrets, RFC_CLIENT, cookie, RFC_ADDRESS, NOW)
    assert not server_cookie_valid(secrets, RFC_CLIENT, cookie, other_address, NOW)
    assert not server_cookie_valid(secrets, bytes(8), cookie, RFC_ADDRESS, NOW)
    assert not server_cookie_valid(secrets, RFC_CLIENT, b"\x02" + cookie[1:], RFC_ADDRESS, NOW)
    assert not server_cookie_valid(secrets, RFC_CLIENT, cookie[:8], RFC_ADDRESS, NOW)
    assert not server_cookie_valid(CookieSecrets(bytes(16)), RFC_CLIENT, cookie, RFC_ADDRESS, NOW)


def test_the_previous_secret_is_accepted_until_its_deadline_only():
    old, new = RFC_SECRET, bytes(range(16))
    cookie = make_server_cookie(old, RFC_CLIENT, RFC_ADDRESS, NOW)
    rotated = CookieSecrets(new, old, NOW + 3600)
    assert server_cookie_valid(rotated, RFC_CLIENT, cookie, RFC_ADDRESS, NOW + 10)
    later = NOW + 3601
    fresh = make_server_cookie(old, RFC_CLIENT, RFC_ADDRESS, later)
    assert not server_cookie_valid(rotated, RFC_CLIENT, fresh, RFC_ADDRESS, later)


def test_secrets_never_reach_repr():
    assert RFC_SECRET.hex() not in repr(CookieSecrets(RFC_SECRET, RFC_SECRET, 1.0))
    assert str(RFC_SECRET) not in repr(CookieSecrets(RFC_SECRET, RFC_SECRET, 1.0))
