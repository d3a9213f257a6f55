"""`geodns dnssec ...`: its arguments and what it prints; the work is geodns.zone_keys'.

Control plane, as cli.py is: parsing and printing only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from geodns.settings import Settings

SettingFlags = Callable[..., None]


def add_dnssec_parser(commands: Any, add_setting_flags: SettingFlags) -> None:
    """`geodns dnssec ACTION`; add_setting_flags is cli's, which adds --database and the rest."""
    dnssec = commands.add_parser(
        "dnssec",
        help="sign zones: keys, DS for the parent, key rollover",
        description="Keys live in the database, sealed with dnssec_key_secret "
        "(GEODNS_DNSSEC_KEY_SECRET), so every node sharing it signs alike.",
    )
    actions = dnssec.add_subparsers(dest="dnssec_command", required=True, metavar="ACTION")
    enable = actions.add_parser("enable", help="make a key for ZONE and sign it from now on")
    enable.add_argument("zone", metavar="ZONE")
    enable.add_argument(
        "--algorithm",
        type=int,
        choices=[13, 15],
        default=13,
        help="13 ECDSAP256SHA256 (default) or 15 ED25519",
    )
    enable.add_argument(
        "--dnskey-ttl", type=int, default=3600, metavar="SECONDS", help="default 3600"
    )
    enable.add_argument(
        "--propagation-delay",
        type=int,
        default=300,
        metavar="SECONDS",
        help="how long every node takes to serve a change; a rollover waits for it; default 300",
    )
    enable.add_argument(
        "--parent-ds-ttl",
        type=int,
        default=86400,
        metavar="SECONDS",
        help="the TTL the parent gives the zone's DS; a rollover waits for it; default 86400",
    )
    add_setting_flags(enable, dns=False)
    status = actions.add_parser("status", help="keys, their phase and the next step")
    status.add_argument("zone", metavar="ZONE", nargs="?", help="default: every signed zone")
    status.add_argument("--json", action="store_true", help="the API's JSON document")
    add_setting_flags(status, dns=False)
    ds = actions.add_parser("ds", help="the DS records (SHA-256) to give the parent")
    ds.add_argument("zone", metavar="ZONE")
    add_setting_flags(ds, dns=False)
    rollover = actions.add_parser(
        "rollover",
        help="start a key rollover, or confirm the parent has the new DS",
        description="Without --ds-replaced: pre-publish a new key; it starts signing after "
        "the DNSKEY TTL and the propagation delay. After that, replace the parent's DS "
        "and run again with --ds-replaced: the old key goes after the parent's DS TTL.",
    )
    rollover.add_argument("zone", metavar="ZONE")
    rollover.add_argument(
        "--algorithm",
        type=int,
        metavar="N",
        help="the zone's algorithm (another one is refused: RFC 6781 §4.1.4)",
    )
    rollover.add_argument(
        "--ds-replaced",
        action="store_true",
        help="the parent serves the new key's DS now: schedule the old key's removal",
    )
    add_setting_flags(rollover, dns=False)
    actions.add_parser("secret", help="print a new random dnssec_key_secret")


async def dnssec_command(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The lines `geodns dnssec ...` prints."""
    from geodns import zone_keys
    from geodns.dnssec.sealing import new_secret
    from geodns.store.migrate import ensure_schema
    from geodns.store.repository import Store

    if args.dnssec_command == "secret":
        return [new_secret()]
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    secret = settings.dnssec_key_secret
    try:
        if args.dnssec_command == "enable":
            signing = await zone_keys.enable(
                store,
                secret,
                args.zone,
                served_zone_names(settings),
                algorithm=zone_keys.algorithm_of(args.algorithm),
                dnskey_ttl_s=zone_keys.seconds_of(args.dnskey_ttl, "--dnskey-ttl", 1),
                propagation_delay_s=zone_keys.seconds_of(
                    args.propagation_delay, "--propagation-delay"
                ),
                parent_ds_ttl_s=zone_keys.seconds_of(args.parent_ds_ttl, "--parent-ds-ttl"),
            )
            document = zone_keys.status_document(signing, datetime.now(UTC))
            return [
                *zone_keys.status_lines(document),
                f"give the parent the DS above (geodns dnssec ds {document['zone']})",
            ]
        if args.dnssec_command == "rollover":
            algorithm = None if args.algorithm is None else zone_keys.algorithm_of(args.algorithm)
            signing = await zone_keys.rollover(
                store, secret, args.zone, algorithm=algorithm, ds_replaced=args.ds_replaced
            )
            document = zone_keys.status_document(signing, datetime.now(UTC))
            return zone_keys.status_lines(document)
        if args.dnssec_command == "ds":
            signing = await store.get_signing(zone_keys.zone_key(args.zone))
            return list(zone_keys.status_document(signing, datetime.now(UTC))["ds"])
        zones = (
            [await store.get_signing(zone_keys.zone_key(args.zone))]
            if args.zone
            else await store.list_signing()
        )
        now = datetime.now(UTC)
        documents = [zone_keys.status_document(signing, now) for signing in zones]
        if args.json:
            return [json.dumps(documents[0] if args.zone else documents, indent=2)]
        lines: list[str] = []
        for document in documents:
            lines.extend(zone_keys.status_lines(document))
        return lines or ["no zone is signed"]
    finally:
        await store.close()


def served_zone_names(settings: Settings) -> set[str]:
    """The zones the zone files in settings.zones serve, fully qualified."""
    from geodns.dns.zonefile import load_zone_dir

    return {zone.origin_text.lower() for zone in load_zone_dir(settings.zones).zones.values()}
