"""dns_allow / dns_deny: who may be answered, and the network sets behind them."""

from __future__ import annotations

import pytest

from geodns.answer.acl import AccessList, NetworkSet, parse_network
from geodns.answer.context import source_network

CASES = [
    # (allow, deny, source, permitted)
    ((), (), "192.0.2.1", True),  # empty lists: everyone
    ((), ("192.0.2.0/24",), "192.0.2.77", False),
    ((), ("192.0.2.0/24",), "192.0.3.1", True),
    (("10.0.0.0/8",), (), "10.1.2.3", True),
    (("10.0.0.0/8",), (), "11.1.2.3", False),  # an allow list lets only its networks in
    (("10.0.0.0/8",), ("10.9.0.0/16",), "10.9.1.1", False),  # deny wins
    (("10.0.0.0/8",), ("10.9.0.0/16",), "10.8.1.1", True),
    ((), ("2001:db8::/32",), "2001:db8:1::1", False),
    ((), ("2001:db8::/32",), "2001:db9::1", True),
    ((), ("192.0.2.1",), "::ffff:192.0.2.1", False),  # an IPv4-mapped source is its IPv4
    (("::/0",), (), "192.0.2.1", False),  # families do not mix
    ((), ("0.0.0.0/0",), "203.0.113.9", False),
    ((), ("198.51.100.7",), "198.51.100.8", True),  # an address alone is its /32
]


@pytest.mark.parametrize(
    "allow, deny, source, permitted", CASES, ids=[f"{c[2]}-{c[1]}-{c[0]}" for c in CASES]
)
def test_deny_wins_and_an_empty_allow_list_means_everyone(allow, deny, source, permitted):
    assert AccessList(allow, deny).permits(source) is permitted


def test_lists_that_let_everyone_in_are_false_so_the_query_path_skips_them():
    assert not AccessList()
    assert AccessList(deny=["192.0.2.0/24"])


def test_host_bits_are_masked_off():
    assert str(parse_network("192.0.2.77/24")) == "192.0.2.0/24"
    assert NetworkSet(["192.0.2.77/24"]).covers(source_network("192.0.2.200"))


def test_a_bad_network_names_the_text():
    with pytest.raises(ValueError, match="'192.0.2.0/33' is not a CIDR network"):
        parse_network("192.0.2.0/33")


def test_many_prefix_lengths_all_match():
    networks = NetworkSet([f"10.{n}.0.0/{16 + n % 9}" for n in range(40)])
    assert networks.covers(source_network("10.5.0.1"))
    assert not networks.covers(source_network("10.200.0.1"))
