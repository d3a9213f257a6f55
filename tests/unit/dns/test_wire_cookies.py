"""The COOKIE (RFC 7873 §4) and NSID (RFC 5001 §2.1) options of a query: decoded, malformed
lengths refused as FORMERR with the OPT kept (RFC 7873 §5.2.2, RFC 6891 §7), and the fast
finder the cache uses agreeing with the decoder."""

from __future__ import annotations

import random

import dns.edns
import dns.message
import pytest

from geodns.dns.wire import BadCookie, decode_query, find_send_time_options

CLIENT = bytes(range(1, 9))


def query(*options: dns.edns.Option, name: str = "www.example.test.", **kwargs: object) -> bytes:
    message = dns.message.make_query(name, "A", use_edns=0, options=list(options), **kwargs)  # type: ignore[arg-type]
    return message.to_wire()


def cookie(body: bytes) -> dns.edns.Option:
    return dns.edns.GenericOption(dns.edns.OptionType.COOKIE, body)


@pytest.mark.parametrize(
    "server", [b"", bytes(8), bytes(16), bytes(32)], ids=["0", "8", "16", "32"]
)
def test_a_client_cookie_and_a_server_cookie_of_8_to_32_bytes_are_read(server):
    edns = decode_query(query(cookie(CLIENT + server))).edns
    assert edns is not None
    assert (edns.client_cookie, edns.server_cookie) == (CLIENT, server)


@pytest.mark.parametrize("length", [0, 1, 7, 9, 15, 41, 64])
def test_a_cookie_option_of_any_other_length_is_formerr_with_the_opt_rfc7873_s5_2_2(length):
    with pytest.raises(BadCookie) as caught:
        decode_query(query(cookie(bytes(length))))
    assert caught.value.edns is not None  # RFC 6891 §7: the FORMERR carries an OPT
    assert caught.value.edns.client_cookie is None
    assert caught.value.question is not None


def test_two_cookie_options_are_formerr():
    with pytest.raises(BadCookie):
        decode_query(query(cookie(CLIENT), cookie(CLIENT)))


def test_nsid_is_asked_for_only_by_the_nsid_option_rfc5001_s2_1():
    asked = decode_query(query(dns.edns.NSIDOption(b""))).edns
    plain = decode_query(query()).edns
    assert asked is not None and asked.nsid
    assert plain is not None and not plain.nsid


def random_query(rng: random.Random) -> tuple[bytes, bytes]:
    """A query with (some of) COOKIE, NSID, ECS options, and the same query without the
    COOKIE and NSID options."""
    name = rng.choice(["www.example.test.", "a.b.example.test.", "WwW.Example.TEST."])
    ecs = [dns.edns.ECSOption("192.0.2.0", 24)] if rng.random() < 0.5 else []
    extra: list[dns.edns.Option] = []
    if rng.random() < 0.7:
        extra.append(cookie(rng.randbytes(8) + rng.randbytes(rng.choice([0, 8, 16, 32]))))
    if rng.random() < 0.5:
        extra.append(dns.edns.NSIDOption(b""))
    rng.shuffle(extra)
    at = rng.randrange(len(extra) + 1)
    options = extra[:at] + ecs + extra[at:]
    dnssec = rng.random() < 0.3
    with_all = query(*options, name=name, want_dnssec=dnssec)
    without = query(*ecs, name=name, want_dnssec=dnssec)
    return with_all, without


def test_the_fast_finder_agrees_with_the_decoder_and_keys_by_the_query_without_them():
    rng = random.Random(7)
    for _ in range(500):
        data, without = random_query(rng)
        found = find_send_time_options(data)
        edns = decode_query(data).edns
        assert edns is not None
        if edns.client_cookie is None and not edns.nsid:
            assert found is None
            continue
        assert found is not None
        assert (found.client_cookie, found.server_cookie, found.nsid) == (
            edns.client_cookie,
            edns.server_cookie,
            edns.nsid,
        )
        assert found.key == without[2:]


@pytest.mark.parametrize(
    "data",
    [
        query(cookie(bytes(9))),  # malformed: the decoder says FORMERR
        query(cookie(CLIENT), cookie(CLIENT)),
        query(),  # nothing to find
        dns.message.make_query("www.example.test.", "A").to_wire(),  # no OPT
        query(cookie(CLIENT))[:-3],  # cut short
    ],
    ids=["bad-length", "two-cookies", "no-options", "no-opt", "truncated"],
)
def test_the_fast_finder_leaves_to_the_decoder_what_is_not_a_plain_well_formed_query(data):
    assert find_send_time_options(data) is None
