"""/ui/: the operator's console, static files shipped inside the package (geodns/console/).

Control plane, no data: the page signs in with an API token and reads the API like any
client, so these routes are public. Files are read once and served from memory with a
Content-Security-Policy that allows nothing but this origin: no CDN, no inline script.
"""

from __future__ import annotations

import functools
import importlib.resources

from aiohttp import web

from geodns.api.http import HttpError

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a new geodns brings a new console
}


@functools.cache
def asset(name: str) -> bytes:
    return importlib.resources.files("geodns").joinpath("console", name).read_bytes()


def respond(name: str) -> web.Response:
    return web.Response(body=asset(name), headers={"Content-Type": ASSETS[name], **HEADERS})


async def get_console(request: web.Request) -> web.Response:
    return respond("index.html")


async def get_asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]
    if name not in ASSETS:
        raise HttpError(404, f"no console file {name}: the console is at /ui/")
    return respond(name)
