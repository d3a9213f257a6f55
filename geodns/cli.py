"""The geodns command: argument parsing and printing only; the work is in app and store."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geodns import __version__
from geodns.cookies_command import add_cookies_parser, cookies_command
from geodns.defence_options import DEFENCE_FLAGS, add_defence_flags
from geodns.dnssec_command import add_dnssec_parser, dnssec_command
from geodns.errors import ConfigError, GeodnsError
from geodns.settings import Settings, load_settings, process_environment

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def add_setting_flags(parser: argparse.ArgumentParser, *, dns: bool = True) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML settings file (also GEODNS_CONFIG); flags and GEODNS_* win over it",
    )
    parser.add_argument(
        "--database",
        dest="database_url",
        metavar="URL",
        help="SQLAlchemy URL (GEODNS_DATABASE_URL); default sqlite+aiosqlite:///geodns.db;"
        " PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    parser.add_argument(
        "--zones", metavar="DIR", help="directory of *.zone files (GEODNS_ZONES); default ./zones"
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="GEODNS_LOG_LEVEL; default info",
    )
    if not dns:
        return
    parser.add_argument(
        "--dns",
        action="append",
        metavar="ADDR:PORT",
        help="DNS listen address, UDP and TCP; repeatable, IPv6 as [::1]:5300 "
        "(GEODNS_DNS, comma-separated); default 127.0.0.1:5300",
    )
    parser.add_argument(
        "--api",
        metavar="ADDR:PORT",
        help="REST API listen address (GEODNS_API), 'off' to disable; default 127.0.0.1:8053",
    )
    parser.add_argument(
        "--geoip-db",
        metavar="PATH",
        help="GeoIP2/GeoLite2 City or Country mmdb (GEODNS_GEOIP_DB); "
        "default: the bundled GeoLite2 City database",
    )
    parser.add_argument(
        "--no-geoip",
        dest="geoip_bundled",
        action="store_const",
        const=False,
        help="without --geoip-db, use no GeoIP database at all (GEODNS_GEOIP_BUNDLED=false)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="DNS worker processes sharing the port with SO_REUSEPORT (GEODNS_WORKERS); default 1",
    )
    parser.add_argument(
        "--poll-interval-s",
        type=float,
        metavar="SECONDS",
        help="how often to check the database for changes; default 0.25",
    )
    parser.add_argument(
        "--poll-interval", type=float, metavar="SECONDS", help="deprecated: --poll-interval-s"
    )
    parser.add_argument(
        "--node-name",
        metavar="NAME",
        help="this node's name as a health probe (GEODNS_NODE_NAME); default the host name",
    )
    parser.add_argument(
        "--http",
        metavar="ADDR:PORT",
        help="serve the pools as HTTP redirects here too (GEODNS_HTTP); default off",
    )
    parser.add_argument(
        "--http-pool-in-path",
        action="store_const",
        const=True,
        help="redirector: the pool is the path's first segment, /POOL/PATH, not the Host header",
    )
    parser.add_argument(
        "--http-trusted-proxies",
        dest="http_trusted_proxies",
        action="append",
        metavar="CIDR",
        help="redirector: believe Forwarded / X-Forwarded-For from these peers; repeatable",
    )
    parser.add_argument(
        "--query-log",
        action="store_const",
        const=True,
        help="log every query at INFO (GEODNS_QUERY_LOG)",
    )
    add_defence_flags(parser)
    planes = ["auto", "native", "python"]  # who answers UDP: README, "Data planes"
    parser.add_argument("--data-plane", choices=planes, help="GEODNS_DATA_PLANE; default auto")


SETTING_FLAGS = (
    "dns",
    "zones",
    "api",
    "database_url",
    "geoip_db",
    "geoip_bundled",
    "workers",
    "poll_interval_s",
    "poll_interval",  # deprecated spelling
    "log_level",
    "query_log",
    "node_name",
    "http",
    "http_pool_in_path",
    "http_trusted_proxies",
    *DEFENCE_FLAGS,
    "data_plane",
)


def settings_from(args: argparse.Namespace) -> Settings:
    environ = process_environment()
    config = getattr(args, "config", None) or environ.get("GEODNS_CONFIG")
    text = None
    if config:
        try:
            text = Path(config).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read settings file {config}: {exc.strerror}") from exc
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in SETTING_FLAGS}
    return load_settings(flags, environ, text, config or "config")


class VersionAction(argparse.Action):
    """--version with the data plane auto serves on (imported here only, not for each command)"""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from geodns.answer.native import describe_data_plane

        print(f"geodns {__version__} data-plane={describe_data_plane()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geodns", description="Authoritative smart-DNS load balancer."
    )
    parser.add_argument(
        "--version", action=VersionAction, nargs=0, help="show the version and data plane, exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve DNS (UDP and TCP) and the REST API",
        description="Serve the zones in --zones and the pools in the database. "
        "SIGHUP reloads zone files; SIGTERM/SIGINT stop cleanly.",
    )
    add_setting_flags(serve)

    check = commands.add_parser(
        "check", help="validate zone files without serving (exit 1 on errors)"
    )
    check.add_argument(
        "path",
        nargs="?",
        metavar="DIR|FILE",
        help="a zones directory, or one zone file (default: --zones / ./zones)",
    )
    add_setting_flags(check, dns=False)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "upgrade", help="apply the migrations up to the code's version"
    )
    add_setting_flags(upgrade, dns=False)

    pools = commands.add_parser("pools", help="declarative pools")
    pool_commands = pools.add_subparsers(dest="pools_command", required=True, metavar="ACTION")
    apply = pool_commands.add_parser("apply", help="make the database's pools match a YAML file")
    apply.add_argument("file", help="pools YAML file (a top-level 'pools:' list)")
    apply.add_argument(
        "--dry-run", action="store_true", help="print the changes without making them"
    )
    apply.add_argument(
        "--if-new",
        action="store_true",
        help="apply only to a new database, one nothing was ever changed in (how a first "
        "start seeds example pools); otherwise say so and change nothing",
    )
    add_setting_flags(apply, dns=False)
    export = pool_commands.add_parser("export", help="print every pool as a pools YAML file")
    add_setting_flags(export, dns=False)

    token = commands.add_parser("token", help="REST API bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser(
        "create",
        help="issue a token and print it alone on stdout (the only time it is shown)",
        description="Issue a token: TOKEN=$(geodns token create --role prober --name probe-eu1)",
    )
    create.add_argument("--name", required=True, help="unique name; audit rows and probes use it")
    create.add_argument(
        "--role",
        required=True,
        choices=["admin", "editor", "prober", "reader"],
        help="admin: everything; editor: pools and zone reloads; prober: health reports; "
        "reader: reads only",
    )
    add_setting_flags(create, dns=False)
    listing = token_commands.add_parser("list", help="list tokens (names and roles, no secrets)")
    add_setting_flags(listing, dns=False)
    revoke = token_commands.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    add_setting_flags(revoke, dns=False)

    add_dnssec_parser(commands, add_setting_flags)
    add_cookies_parser(commands, add_setting_flags)

    probe = commands.add_parser(
        "probe",
        help="check a pool's members from here and report to a geodns API",
        description="A health probe runnable anywhere: checks every member of the given pools "
        "each interval and reports up/down through POST /api/v1/health/reports "
        "(the token's name is the probe's name; use a prober token).",
    )
    # dest api_url: "api" is serve's listen address, which settings_from reads
    probe.add_argument(
        "--api", dest="api_url", required=True, metavar="URL", help="e.g. http://10.0.0.5:8053"
    )
    probe.add_argument(
        "--token",
        metavar="TOKEN",
        help="bearer token (or GEODNS_PROBE_TOKEN, which keeps it out of ps)",
    )
    probe.add_argument(
        "--pool", action="append", required=True, metavar="NAME", help="pool to check; repeatable"
    )
    probe.add_argument(
        "--check",
        required=True,
        metavar="TEMPLATE",
        help="http://{address}:80/health, https://{address}/health or tcp://{address}:443",
    )
    probe.add_argument("--interval", type=float, default=10.0, metavar="SECONDS")
    probe.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS")
    probe.add_argument("--rise", type=int, default=2, help="successes in a row to report up")
    probe.add_argument("--fall", type=int, default=3, help="failures in a row to report down")
    probe.add_argument(
        "--ttl",
        type=float,
        metavar="SECONDS",
        help="seconds a report counts (1-86400); default 3 x interval + timeout; cron: > period",
    )
    probe.add_argument("--host", help="Host header (and TLS name) for http/https checks")
    probe.add_argument("--body-contains", metavar="TEXT", help="required substring of the body")
    probe.add_argument(
        "--no-tls-verify",
        dest="tls_verify",
        action="store_false",
        help="accept any certificate for https checks",
    )
    probe.add_argument("--once", action="store_true", help="one round, then exit (cron: see --ttl)")
    probe.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if level != "debug":  # alembic narrates every plugin it loads at INFO
        logging.getLogger("alembic").setLevel(logging.WARNING)


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; the default loop is slower
        return
    uvloop.install()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
        configure_logging(settings.log_level)
        for note in settings.deprecations:  # once, at start: the old spelling still works
            logging.getLogger("geodns.settings").warning("deprecated setting: %s", note)
        return run_command(args, settings)
    except GeodnsError as exc:
        print(f"geodns: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        return EXIT_OK


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from geodns.app import serve

        install_uvloop()
        asyncio.run(serve(settings))
        return EXIT_OK
    if args.command == "check":
        return check_zones(Path(args.path) if args.path else settings.zones)
    if args.command == "db":
        from geodns.store.migrate import upgrade

        asyncio.run(upgrade(settings.database_url))
        print("database at the latest migration")
        return EXIT_OK
    if args.command == "pools":
        from geodns import pools_file

        if args.pools_command == "apply":
            lines, changed = asyncio.run(
                pools_file.apply_file(
                    settings, Path(args.file), dry_run=args.dry_run, if_new=args.if_new
                )
            )
            for line in lines:
                print(line)
            return EXIT_OK
        print(asyncio.run(pools_file.export_yaml(settings)), end="")
        return EXIT_OK
    printed = {"dnssec": dnssec_command, "token": token_command, "cookies": cookies_command}
    if args.command in printed:
        for line in asyncio.run(printed[args.command](args, settings)):
            print(line)
        return EXIT_OK
    if args.command == "probe":
        return run_probe(args)
    raise AssertionError(args.command)


def run_probe(args: argparse.Namespace) -> int:
    from geodns.health.remote_probe import ProbeError, probe_options, run_remote_probe

    token = args.token or process_environment().get("GEODNS_PROBE_TOKEN")
    if not token:
        raise ConfigError("geodns probe needs --token or GEODNS_PROBE_TOKEN")
    fields: dict[str, Any] = {"tls_verify": args.tls_verify}
    if args.host:
        fields["host"] = args.host
    if args.body_contains:
        fields["body_contains"] = args.body_contains
    options = probe_options(
        args.api_url,
        token,
        args.pool,
        args.check,
        interval_s=args.interval,
        timeout_s=args.timeout,
        rise=args.rise,
        fall=args.fall,
        ttl_s=args.ttl,
        once=args.once,
        **fields,
    )
    try:
        reports = asyncio.run(run_remote_probe(options))
    except ProbeError as exc:
        print(f"geodns probe: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    for report in reports:
        print(json.dumps(report, sort_keys=True))  # the last round, one JSON line per address
    return EXIT_OK


async def token_command(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The lines `geodns token ...` prints: the new token alone, the list, or the revocation."""
    from geodns.auth import issue_token
    from geodns.store.migrate import ensure_schema
    from geodns.store.repository import Store

    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        if args.token_command == "create":
            return [await issue_token(store, args.name, args.role)]
        if args.token_command == "revoke":
            await store.revoke_token(args.name)
            return [f"token {args.name} revoked"]
        return [
            f"{t.name}\t{t.role}\t{t.created_at.isoformat(timespec='seconds')}\t{t.created_by}"
            for t in await store.list_tokens()
        ]
    finally:
        await store.close()


def check_zones(path: Path) -> int:
    from geodns.dns.zonefile import ZoneLoad, load_zone_dir, load_zone_file
    from geodns.errors import ZoneFileError

    if path.is_file():  # one file, as named-checkzone takes it
        try:
            zone = load_zone_file(path)
            load = ZoneLoad({zone.origin: zone}, {})
        except ZoneFileError as exc:
            load = ZoneLoad({}, {str(path): exc})
    elif path.is_dir():
        load = load_zone_dir(path)
    else:
        print(f"geodns: {path} does not exist (a zones directory or zone file)", file=sys.stderr)
        return EXIT_PROBLEM
    directory = path
    for zone in sorted(load.zones.values(), key=lambda z: z.source):
        print(
            f"{zone.source}: zone {zone.origin_text} serial {zone.serial}: "
            f"{zone.record_count()} records OK"
        )
    for error in load.errors.values():
        for problem in error.problems:
            print(f"{problem.where}: {problem.message}", file=sys.stderr)
    if not load.zones and not load.errors:
        print(f"geodns: no *.zone files in {directory}", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_PROBLEM if load.errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
