"""The reply's OPT record and its options, read back by dnspython (RFC 6891, 7871, 8914)."""

from __future__ import annotations

import dns.edns
import dns.message
import pytest

from geodns.dns.edns import (
    EDE_NOT_AUTHORITATIVE,
    EDE_PROHIBITED,
    ClientSubnet,
    Edns,
    ExtendedError,
    encode_opt,
)


def options_of(opt: bytes) -> list[dns.edns.Option]:
    """The options of an OPT record, as dnspython reads them in a reply."""
    header = bytes.fromhex("0000 8400 0000 0000 0000 0001")
    return list(dns.message.from_wire(header + opt).options)


@pytest.mark.parametrize(
    "error",
    [
        ExtendedError(EDE_NOT_AUTHORITATIVE),
        ExtendedError(EDE_PROHIBITED, "denied by policy"),
        ExtendedError(EDE_PROHIBITED, "refusé"),
    ],
    ids=["no-text", "text", "utf-8-text"],
)
def test_extended_error_option_is_info_code_then_extra_text_rfc8914_2(error):
    [option] = options_of(encode_opt(Edns(1232, 0, False, 0), 0, None, error))
    assert isinstance(option, dns.edns.EDEOption)
    assert option.code == error.info_code
    assert (option.text or "") == error.extra_text


def test_extended_error_follows_the_client_subnet_echo_rfc8914_2_rfc7871_7_2_1():
    ecs = ClientSubnet(1, 24, 0, bytes([192, 0, 2]))
    edns = Edns(1232, 0, True, 0, ecs)
    ecs_option, ede = options_of(encode_opt(edns, 0, 24, ExtendedError(EDE_PROHIBITED)))
    assert isinstance(ecs_option, dns.edns.ECSOption) and ecs_option.scopelen == 24
    assert isinstance(ede, dns.edns.EDEOption) and ede.code == EDE_PROHIBITED


def test_no_extended_error_no_option_rfc8914_3():
    assert options_of(encode_opt(Edns(1232, 0, False, 0), 0, None)) == []
