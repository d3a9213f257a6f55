"""Every aiohttp application key, typed, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from geodns.app import Runtime

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
