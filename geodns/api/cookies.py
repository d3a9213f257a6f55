"""/api/v1/cookies/rotate: a new DNS cookie secret, as `geodns cookies rotate` makes one.

Control plane. The secret lives in the store, so every node sharing it makes cookies
with the new one as soon as its watch reads the change; cookies made with the previous
one stay valid until the time the response gives (RFC 9018 §4.3: a cookie lives an
hour), so no client holding one is refused because of the rotation. Audited as
cookies.rotate with the caller's token name.
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.http import caller
from geodns.api.pools import store_of
from geodns.dns.cookie import VALID_BEFORE_S


async def rotate_cookies(request: web.Request) -> web.Response:
    until = await store_of(request).rotate_cookie_secret(actor=caller(request).name)
    return web.json_response(
        {
            "rotated": True,
            "previous_accepted_until": until.isoformat(),
            "previous_accepted_for_s": VALID_BEFORE_S,
        }
    )
