"""`geodns cookies rotate`: its arguments and what it prints; the work is the store's.

Control plane, as cli.py is: parsing and printing only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from geodns.settings import Settings

SettingFlags = Callable[..., None]


def add_cookies_parser(commands: Any, add_setting_flags: SettingFlags) -> None:
    """`geodns cookies ACTION`; add_setting_flags is cli's (--database and the rest)."""
    cookies = commands.add_parser(
        "cookies",
        help="the DNS cookie secret every node shares (RFC 7873, RFC 9018)",
        description="The secret lives in the database: every node sharing it makes and "
        "accepts the same server cookies.",
    )
    actions = cookies.add_subparsers(dest="cookies_command", required=True, metavar="ACTION")
    rotate = actions.add_parser(
        "rotate",
        help="make a new secret; cookies made with the previous one stay valid for an hour",
    )
    add_setting_flags(rotate, dns=False)


async def cookies_command(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The lines `geodns cookies ...` prints."""
    from geodns.store.migrate import ensure_schema
    from geodns.store.repository import Store

    assert args.cookies_command == "rotate"
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        until = await store.rotate_cookie_secret()
    finally:
        await store.close()
    kept = until.isoformat(timespec="seconds")
    return [
        "dns cookie secret rotated: every node makes cookies with the new one as soon as it "
        f"reads the change; cookies made with the previous one are accepted until {kept}"
    ]
