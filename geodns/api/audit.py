"""/api/v1/audit: who changed what, newest first, filtered and paginated (admins only).

Control plane, read-only.
"""

from __future__ import annotations

from aiohttp import web

from geodns.api.http import PageParams, encode_cursor, page
from geodns.api.pools import store_of


async def list_audit(request: web.Request) -> web.Response:
    params = PageParams(request)
    before_id = None
    if params.cursor is not None:
        if params.cursor.isdigit():
            before_id = int(params.cursor)
        else:
            params.add("cursor", "not a cursor from a previous page's next link")
    params.done()
    limit = params.limit
    query = request.query
    entries = await store_of(request).list_audit(
        actor=query.get("actor"),
        action=query.get("action"),
        target=query.get("target"),
        before_id=before_id,
        limit=limit + 1,
    )
    more = len(entries) > limit
    shown = entries[:limit]
    cursor = encode_cursor(str(shown[-1].id)) if more and shown else None
    items = [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "before": e.before,
            "after": e.after,
        }
        for e in entries[:limit]
    ]
    return page(request, "entries", items, cursor)
