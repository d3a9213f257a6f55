"""The cookie and NSID settings through every layer: TOML, GEODNS_*, flags (as the CLI
parses them), and what the answer path is given."""

from __future__ import annotations

import pytest

from geodns.answer.defences import defences_from
from geodns.answer.options import nsid_payload
from geodns.cli import build_parser
from geodns.errors import ConfigError
from geodns.settings import load_settings


def test_cookies_are_on_and_nsid_unset_by_default():
    settings = load_settings({}, {})
    assert (settings.cookies, settings.require_server_cookie, settings.nsid) == (True, False, None)
    options = defences_from(settings).options
    assert (options.cookies, options.require_server_cookie, options.nsid) == (True, False, None)


def test_each_layer_sets_them_and_flags_win():
    toml = 'cookies = false\nrequire_server_cookie = true\nnsid = "from-toml"\n'
    from_toml = load_settings({}, {}, toml)
    assert (from_toml.cookies, from_toml.require_server_cookie, from_toml.nsid) == (
        False,
        True,
        "from-toml",
    )
    environ = {"GEODNS_COOKIES": "on", "GEODNS_NSID": "from-env"}
    from_env = load_settings({}, environ, toml)
    assert (from_env.cookies, from_env.nsid) == (True, "from-env")
    args = build_parser().parse_args(
        ["serve", "--cookies", "off", "--require-server-cookie", "--nsid", "hostname"]
    )
    flags = {k: getattr(args, k) for k in ("cookies", "require_server_cookie", "nsid")}
    from_flags = load_settings(flags, environ)
    assert (from_flags.cookies, from_flags.require_server_cookie, from_flags.nsid) == (
        False,
        True,
        "hostname",
    )


def test_a_cookies_value_that_is_not_a_boolean_is_refused():
    with pytest.raises(ConfigError, match="environment GEODNS_COOKIES: expected true or false"):
        load_settings({}, {"GEODNS_COOKIES": "maybe"})


def test_nsid_hostname_means_the_host_name_rfc5001():
    assert nsid_payload("hostname", lambda: "node-7") == b"node-7"
    assert nsid_payload("ns1.example", lambda: "node-7") == b"ns1.example"
    assert nsid_payload(None) is None
