"""load_settings: defaults < TOML < GEODNS_* < flags, and every bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from geodns.errors import ConfigError
from geodns.settings import Settings, load_settings


def test_nothing_set_gives_the_documented_defaults():
    settings = load_settings({}, {})
    assert settings == Settings()
    assert settings.dns == (("127.0.0.1", 5300),)
    assert settings.api == ("127.0.0.1", 8053)
    assert settings.zones == Path("zones")
    assert settings.database_url == "sqlite+aiosqlite:///geodns.db"


def test_flags_beat_environment_beat_toml():
    toml = 'zones = "from-toml"\nworkers = 3\nlog_level = "debug"\n'
    environ = {"GEODNS_ZONES": "from-env", "GEODNS_WORKERS": "2"}
    settings = load_settings({"zones": "from-flag"}, environ, toml)
    assert settings.zones == Path("from-flag")
    assert settings.workers == 2
    assert settings.log_level == "debug"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["[::1]:5300"], (("::1", 5300),)),
        (["127.0.0.1:53", "[::1]:53"], (("127.0.0.1", 53), ("::1", 53))),
        (["::1"], (("::1", 5300),)),
        ("127.0.0.2:5301,[::1]:5302", (("127.0.0.2", 5301), ("::1", 5302))),
    ],
    ids=["ipv6", "two", "ipv6-no-port", "env-comma-list"],
)
def test_dns_listen_addresses_accept_ipv4_and_ipv6(value, expected):
    assert load_settings({"dns": value}, {}).dns == expected


def test_unknown_keys_and_variables_are_errors_listing_the_valid_ones():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {}, {"GEODNS_ZONE": "x", "GEODNS_TEST_POSTGRES_URL": "ignored"}, "dsn = 1\n", "a.toml"
        )
    message = str(caught.value)
    assert "a.toml: unknown key 'dsn'" in message
    assert "unknown variable GEODNS_ZONE (valid: GEODNS_DNS, GEODNS_ZONES" in message
    assert "GEODNS_TEST_POSTGRES_URL" not in message


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ({"dns": ["not-an-address:53"]}, "--dns"),
        ({"workers": 0}, "--workers: expected a positive integer"),
        ({"tcp_idle_timeout": -1}, "--tcp-idle-timeout: expected a positive number"),
        ({"log_level": "loud"}, "--log-level: expected debug, info, warning or error"),
        ({"data_plane": "c"}, "--data-plane: expected auto, native or python, got 'c'"),
    ],
    ids=["bad-address", "zero-workers", "negative-timeout", "bad-level", "bad-data-plane"],
)
def test_bad_values_are_named_with_their_origin(flags, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(flags, {})


def test_bad_toml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, {}, "zones = ", "geodns.toml")


def test_database_password_never_reaches_repr():
    settings = load_settings({"database_url": "postgresql+asyncpg://geodns:s3cret@db/geodns"}, {})
    assert "s3cret" not in repr(settings)
    assert "geodns:***@db" in repr(settings)


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        (
            {"dns": ["localhost:5301"]},
            {},
            "invalid setting: --dns: 'localhost:5301' is not ADDR:PORT with an IP address "
            "(names such as localhost are not resolved): write 127.0.0.1:5301 or [::1]:5301",
        ),
        (
            {},
            {"GEODNS_WORKERS": "two"},
            "invalid setting: environment GEODNS_WORKERS: expected a positive integer, got 'two'",
        ),
        (
            {},
            {"GEODNS_POLL_INTERVAL": "soon"},
            "invalid setting: environment GEODNS_POLL_INTERVAL: expected a positive number, "
            "got 'soon'",
        ),
        (
            {"api": "127.0.0.1:70000"},
            {},
            "invalid setting: --api: '127.0.0.1:70000': port 70000 is not from 0 to 65535",
        ),
    ],
    ids=["dns-host-name", "workers-word", "interval-word", "api-port-range"],
)
def test_one_bad_setting_is_one_line_naming_the_cause(flags, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, environ)
    assert str(caught.value) == message


def test_internal_settings_are_accepted_but_never_offered_as_valid_names():
    assert load_settings({}, {"GEODNS_WORKER": "true"}).worker is True
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"GEODNS_WORKRS": "2"}, "wrkers = 2\n", "a.toml")
    message = str(caught.value)
    assert "GEODNS_WORKERS" in message and ", workers," in message
    assert "GEODNS_WORKER," not in message and "GEODNS_WORKER)" not in message
    assert ", worker," not in message and ", worker)" not in message


SECRET = "k" * 20 + "Z" * 23  # 43 characters, as `geodns dnssec secret` prints


def test_dnssec_key_secret_comes_from_the_environment_and_never_reaches_repr():
    settings = load_settings({}, {"GEODNS_DNSSEC_KEY_SECRET": SECRET})
    assert settings.dnssec_key_secret == SECRET
    assert SECRET not in repr(settings)
    assert "dnssec_key_secret='***'" in repr(settings)
    assert "dnssec_key_secret=''" in repr(load_settings({}, {}))


def test_a_short_dnssec_key_secret_is_refused_without_repeating_it():
    with pytest.raises(ConfigError) as refused:
        load_settings({}, {}, 'dnssec_key_secret = "hunter2-hunter2"')
    assert str(refused.value) == (
        "invalid setting: config: dnssec_key_secret: must be at least 32 random characters "
        "(geodns dnssec secret prints one), or empty"
    )
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("flags", "environ", "toml", "note"),
    [
        (
            {},
            {},
            "poll_interval = 0.5\n",
            "a.toml: poll_interval is deprecated: write poll_interval_s (seconds)",
        ),
        (
            {},
            {"GEODNS_POLL_INTERVAL": "0.5"},
            None,
            "environment GEODNS_POLL_INTERVAL is deprecated: use GEODNS_POLL_INTERVAL_S",
        ),
        ({"poll_interval": 0.5}, {}, None, "--poll-interval is deprecated: use --poll-interval-s"),
    ],
    ids=["toml", "environment", "flag"],
)
def test_a_unit_less_spelling_still_works_and_is_noted_as_deprecated(flags, environ, toml, note):
    settings = load_settings(flags, environ, toml, "a.toml")
    assert (settings.poll_interval_s, settings.deprecations) == (0.5, (note,))


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("tcp_idle_timeout", "tcp_idle_timeout_s", 3.0),
        ("poll_interval", "poll_interval_s", 0.1),
        ("flap_window", "flap_window_s", 60.0),
        ("flap_hold", "flap_hold_s", 0.0),
    ],
)
def test_each_deprecated_key_sets_the_setting_with_the_unit_in_its_name(old, new, value):
    by_old = load_settings({}, {}, f"{old} = {value}\n", "a.toml")
    by_new = load_settings({}, {}, f"{new} = {value}\n", "a.toml")
    assert getattr(by_old, new) == getattr(by_new, new) == value
    assert by_new.deprecations == ()
    assert by_old == by_new  # the notes are not part of the settings' value


def test_the_new_spelling_wins_over_the_old_in_the_same_layer_and_layers_still_order():
    both = load_settings({}, {}, "poll_interval = 9\npoll_interval_s = 1\n", "a.toml")
    assert both.poll_interval_s == 1.0
    over = load_settings({}, {"GEODNS_POLL_INTERVAL": "2"}, "poll_interval_s = 1\n", "a.toml")
    assert over.poll_interval_s == 2.0  # environment over TOML, whatever the spelling


def test_deprecation_notes_never_reach_repr_and_unknown_key_lists_offer_only_new_names():
    assert "deprecat" not in repr(load_settings({}, {"GEODNS_POLL_INTERVAL": "2"}))
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, "pol_interval = 1\n", "a.toml")
    assert "poll_interval_s" in str(caught.value)
    assert "poll_interval," not in str(caught.value)


def test_the_http_redirector_is_off_unless_an_address_is_given():
    assert load_settings({}, {}).http is None
    settings = load_settings(
        {"http": "[::1]:8081"},
        {"GEODNS_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::1"},
        "http_pool_in_path = true\n",
    )
    assert settings.http == ("::1", 8081)
    assert settings.http_pool_in_path is True
    assert [str(n) for n in settings.http_trusted_proxies] == ["10.0.0.0/8", "2001:db8::1/128"]
    assert load_settings({"http": "127.0.0.1"}, {}).http == ("127.0.0.1", 8080)
    with pytest.raises(ConfigError) as raised:
        load_settings({"http_trusted_proxies": ["10.0.0.0/8", "proxy.example"]}, {})
    assert str(raised.value) == (
        "invalid setting: --http-trusted-proxies: not a network such as 10.0.0.0/8 or "
        "2001:db8::/32: 'proxy.example'"
    )


def test_rate_limiting_and_access_lists_come_from_every_layer():
    toml = (
        "rrl_responses_per_second = 5\nrrl_exempt = ['10.0.0.0/8', '2001:db8::1']\n"
        "dns_deny = ['192.0.2.77/24']\n"
    )
    environ = {"GEODNS_RRL_SLIP": "0", "GEODNS_DNS_ALLOW": "198.51.100.0/24, 203.0.113.0/24"}
    flags = {"rrl_nxdomains_per_second": 1, "dns_deny_action": "drop"}
    settings = load_settings(flags, environ, toml)
    assert settings.rrl_responses_per_second == 5
    assert settings.rrl_nxdomains_per_second == 1
    assert settings.rrl_nodata_per_second is None  # the responses value, when RRL reads it
    assert settings.rrl_slip == 0
    assert settings.rrl_exempt == ("10.0.0.0/8", "2001:db8::1/128")
    assert settings.dns_deny == ("192.0.2.0/24",)  # host bits masked off
    assert settings.dns_allow == ("198.51.100.0/24", "203.0.113.0/24")
    assert settings.dns_deny_action == "drop"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("rrl_slip", "11", "expected an integer from 0 to 10, got '11'"),
        ("rrl_window_s", "0", "expected an integer from 1 to 3600, got '0'"),
        ("rrl_ipv4_prefix", "33", "expected an integer from 0 to 32, got '33'"),
        ("rrl_responses_per_second", "-1", "expected 0 or a positive integer, got '-1'"),
        ("dns_deny", "192.0.2.0/33", "'192.0.2.0/33' is not a CIDR network such as 192.0.2.0/24"),
        ("dns_deny_action", "ignore", "expected refuse or drop, got 'ignore'"),
    ],
    ids=lambda v: str(v)[:20],
)
def test_bad_defence_settings_are_named(key, value, message):
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {f"GEODNS_{key.upper()}": value})
    assert str(caught.value) == f"invalid setting: environment GEODNS_{key.upper()}: {message}"


def test_settings_remember_their_layers_so_sighup_and_workers_read_them_again():
    settings = load_settings(
        {"dns_deny": ["192.0.2.1"], "zones": None},
        {"GEODNS_RRL_SLIP": "1", "HOME": "/x"},
        "",
        "a.toml",
    )
    layers = settings.layers
    assert layers.flags == {"dns_deny": ["192.0.2.1"]}
    assert layers.environ == {"GEODNS_RRL_SLIP": "1"}
    assert layers.config == "a.toml"
    again = load_settings(layers.flags, layers.environ, "", layers.config)
    assert again == settings


def test_data_plane_is_set_like_every_setting():
    assert load_settings({}, {}).data_plane == "auto"
    assert load_settings({}, {}, 'data_plane = "python"').data_plane == "python"
    assert load_settings({}, {"GEODNS_DATA_PLANE": "Native"}).data_plane == "native"
    flags = {"data_plane": "python"}
    assert load_settings(flags, {"GEODNS_DATA_PLANE": "native"}).data_plane == "python"


def test_database_timeouts_default_to_a_few_seconds_as_the_store_s_own_do():
    # issue 12 §5: every store call bounded; the settings and StoreTimeouts agree
    from geodns.store.engine import StoreTimeouts

    settings = load_settings({}, {})
    assert settings.database_connect_timeout_s == StoreTimeouts().connect_s == 3.0
    assert settings.database_statement_timeout_s == StoreTimeouts().statement_s == 5.0
    assert settings.readiness_timeout_s == 1.0
    environ = {"GEODNS_DATABASE_STATEMENT_TIMEOUT_S": "2.5", "GEODNS_READINESS_TIMEOUT_S": "0.3"}
    tuned = load_settings({}, environ, "database_connect_timeout_s = 1")
    assert (tuned.database_connect_timeout_s, tuned.database_statement_timeout_s) == (1.0, 2.5)
    assert tuned.readiness_timeout_s == 0.3
    with pytest.raises(ConfigError, match="database_statement_timeout_s: expected a positive"):
        load_settings({}, {}, "database_statement_timeout_s = 0")
