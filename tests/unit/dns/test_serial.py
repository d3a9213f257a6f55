"""RFC 1982 serial arithmetic (geodns.dns.serial), wrap-around included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodns.dns.serial import compare_serials, serial_went_backwards

TOP = 2**32 - 1
serials = st.integers(min_value=0, max_value=TOP)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 2, -1),
        (2, 1, 1),
        (7, 7, 0),
        (TOP, 0, -1),  # RFC 1982 §3.2: adding 1 to the largest wraps to 0, which is after it
        (0, TOP, 1),
        (TOP - 5, 10, -1),
        (0, 2**31, None),  # exactly half the space apart: undefined
        (2**31, 0, None),
        (0, 2**31 - 1, -1),
        (0, 2**31 + 1, 1),
    ],
    ids=[
        "up",
        "down",
        "equal",
        "wrap",
        "wrap-back",
        "wrap-far",
        "half",
        "half-back",
        "just-under-half",
        "just-over-half",
    ],
)
def test_serials_compare_as_rfc1982_s3_2_says(a, b, expected):
    assert compare_serials(a, b) == expected


@given(serials, st.integers(min_value=1, max_value=2**31 - 1))
def test_adding_less_than_half_the_space_is_always_later_rfc1982_s3_1(serial, step):
    later = (serial + step) % 2**32
    assert compare_serials(serial, later) == -1
    assert compare_serials(later, serial) == 1
    assert serial_went_backwards(later, serial)
    assert not serial_went_backwards(serial, later)


def test_a_reload_with_the_same_serial_is_not_backwards_but_a_lower_one_is():
    assert not serial_went_backwards(2026112201, 2026112201)
    assert serial_went_backwards(2026112201, 2026112101)
    assert not serial_went_backwards(TOP, 3)  # the documented way to wrap a serial
