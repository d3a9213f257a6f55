"""The command-line flags of the open-internet defences, for `geodns serve`: DNS over
TCP's limits, response rate limiting, the access lists, the REST API's limits and TLS.

Argument parsing only: each flag is the setting of the same name (README "Settings"),
so it wins over GEODNS_* and the TOML file like every other flag.
"""

from __future__ import annotations

import argparse


def add_defence_flags(parser: argparse.ArgumentParser) -> None:
    tcp = parser.add_argument_group("DNS over TCP (RFC 7766)")
    tcp.add_argument(
        "--tcp-idle-timeout-s",
        type=float,
        metavar="SECONDS",
        help="close a connection that has not sent a complete query for this long, from its "
        "start or its last answer; a trickle does not extend it (RFC 7766 §6.2.3); default 10",
    )
    tcp.add_argument(
        "--tcp-idle-timeout", type=float, metavar="SECONDS", help="deprecated: --tcp-idle-timeout-s"
    )
    tcp.add_argument(
        "--tcp-max-connections",
        type=int,
        metavar="N",
        help="concurrent TCP connections; when full, the one waiting longest on its client is "
        "closed for the new one; default 1000",
    )
    tcp.add_argument(
        "--tcp-max-connections-per-client",
        type=int,
        metavar="N",
        help="concurrent TCP connections from one address; more are closed at once; default 32",
    )
    rrl = parser.add_argument_group(
        "response rate limiting (BIND semantics; UDP only, 0 = off)",
    )
    rates = (
        ("responses", "identical positive answers per second to one client block; 0 = RRL off"),
        ("nodata", "NODATA answers per name (default: the responses rate)"),
        ("nxdomains", "NXDOMAIN answers per zone (default: the responses rate)"),
        ("referrals", "referrals per delegation (default: the responses rate)"),
        ("errors", "other errors per client block (default: the responses rate)"),
        ("all", "every response to one client block, whatever it is (default 0: no limit)"),
    )
    for name, text in rates:
        rrl.add_argument(f"--rrl-{name}-per-second", type=int, metavar="N", help=text)
    rrl.add_argument(
        "--rrl-window-s", type=int, metavar="SECONDS", help="debt cap and recovery time; default 15"
    )
    rrl.add_argument(
        "--rrl-slip",
        type=int,
        metavar="N",
        help="every Nth limited response is truncated (TC) instead of dropped; 0 drops all, "
        "1 truncates all; default 2",
    )
    rrl.add_argument("--rrl-ipv4-prefix", type=int, metavar="BITS", help="client block; default 24")
    rrl.add_argument("--rrl-ipv6-prefix", type=int, metavar="BITS", help="client block; default 56")
    rrl.add_argument(
        "--rrl-exempt", action="append", metavar="CIDR", help="never limited; repeatable"
    )
    rrl.add_argument(
        "--rrl-log-only",
        action="store_const",
        const=True,
        help="count and log what would be limited, send everything",
    )
    rrl.add_argument("--rrl-max-entries", type=int, metavar="N", help="bucket table size; 20000")
    acl = parser.add_argument_group("who may ask (deny wins; SIGHUP re-reads --config)")
    acl.add_argument(
        "--dns-allow", action="append", metavar="CIDR", help="only these may ask; repeatable"
    )
    acl.add_argument("--dns-deny", action="append", metavar="CIDR", help="refused; repeatable")
    acl.add_argument(
        "--dns-deny-action",
        choices=["refuse", "drop"],
        help="REFUSED with Extended DNS Error 18 (default), or no reply",
    )
    api = parser.add_argument_group("the REST API's limits and TLS")
    api.add_argument(
        "--api-header-timeout-s",
        type=float,
        metavar="SECONDS",
        help="the request line and headers must arrive within this of the connection opening "
        "or the previous response; a trickle does not extend it; default 5",
    )
    api.add_argument(
        "--api-body-timeout-s",
        type=float,
        metavar="SECONDS",
        help="the whole request body must arrive within this of the headers; default 10",
    )
    api.add_argument(
        "--api-max-connections",
        type=int,
        metavar="N",
        help="concurrent API connections (apart from DNS); when full, the one waiting longest "
        "for its request is closed, or with none waiting the new one gets 503; default 256",
    )
    api.add_argument("--api-tls-cert", metavar="PEM", help="certificate chain: serve HTTPS")
    api.add_argument("--api-tls-key", metavar="PEM", help="the certificate's private key")
    api.add_argument(
        "--metrics-require-token",
        action="store_const",
        const=True,
        help="/metrics asks for a bearer token (any role)",
    )
    ident = parser.add_argument_group("DNS cookies (RFC 7873, RFC 9018) and NSID (RFC 5001)")
    ident.add_argument(
        "--cookies",
        type=str,
        choices=["on", "off"],
        help="server cookies in replies to queries with a client cookie; default on",
    )
    ident.add_argument(
        "--require-server-cookie",
        action="store_const",
        const=True,
        help="answer BADCOOKIE over UDP to a client cookie without a valid server cookie",
    )
    ident.add_argument(
        "--nsid", metavar="TEXT", help="name server identifier sent when asked; 'hostname'"
    )


DEFENCE_FLAGS = (
    "tcp_idle_timeout_s",
    "tcp_idle_timeout",  # deprecated spelling
    "tcp_max_connections",
    "tcp_max_connections_per_client",
    "rrl_responses_per_second",
    "rrl_nodata_per_second",
    "rrl_nxdomains_per_second",
    "rrl_referrals_per_second",
    "rrl_errors_per_second",
    "rrl_all_per_second",
    "rrl_window_s",
    "rrl_slip",
    "rrl_ipv4_prefix",
    "rrl_ipv6_prefix",
    "rrl_exempt",
    "rrl_log_only",
    "rrl_max_entries",
    "dns_allow",
    "dns_deny",
    "dns_deny_action",
    "api_header_timeout_s",
    "api_body_timeout_s",
    "api_max_connections",
    "api_tls_cert",
    "api_tls_key",
    "metrics_require_token",
    "cookies",
    "require_server_cookie",
    "nsid",
)
