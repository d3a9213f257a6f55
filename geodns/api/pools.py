"""/api/v1/pools: list, create, read, replace, merge-patch and delete pools.

Control plane. A pool is validated whole (fields, then placement in the served zones)
before any write; each write is one store transaction with its audit row, and the
snapshot is rebuilt before the response so DNS answers the change at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from geodns.api.http import (
    JSON,
    HttpError,
    PageParams,
    caller,
    encode_cursor,
    etag,
    if_match,
    merge_patch,
    page,
    read_object,
    warn_deprecated,
)
from geodns.api.keys import PUBLISHER, SNAPSHOTS, STORE
from geodns.dns import names
from geodns.dns.zone import containing_zone, placement_problem
from geodns.errors import Problem, StaleVersion, ValidationError
from geodns.pools.check_fields import spelled_with_units
from geodns.pools.fields import name_problem, normalise_name
from geodns.pools.model import Pool, to_document
from geodns.pools.static_names import REPLACE_STATIC, static_problem
from geodns.pools.validate import check_pool_in_zones, parse_pool
from geodns.store.repository import Store

T = TypeVar("T")
POOLS = "/api/v1/pools"
WRITE_ATTEMPTS = 3  # read-validate-write rounds before a writer without If-Match gives up


def store_of(request: web.Request) -> Store:
    store = request.app.get(STORE)
    if store is None:
        raise HttpError(503, "the database is not open yet", {"Retry-After": "1"})
    return store


async def publish(request: web.Request) -> None:
    """Rebuild the snapshot from the store now (the watcher tells other nodes)."""
    await request.app[PUBLISHER].refresh()


def pool_name(request: web.Request) -> str:
    """The {name} of the URL, normalised; 404 when it cannot be a pool name."""
    raw = request.match_info["name"]
    if name_problem(raw) is not None:
        raise HttpError(404, f"no pool {raw}: not a domain name")
    return normalise_name(raw)


def pool_url(name: str) -> str:
    return f"{POOLS}/{name}"


def validate(request: web.Request, doc: JSON, notes: list[Problem] | None = None) -> Pool:
    """doc -> Pool, or ValidationError listing every field problem and placement problem;
    notes receives the deprecated spellings doc used."""
    if notes is not None:
        notes.clear()  # a write may validate again after a concurrent change
    pool = parse_pool(doc, notes=notes)
    problems = placement_problems(request, pool)
    if problems:
        raise ValidationError(f"pool {pool.name}", problems)
    return pool


def placement_problems(request: web.Request, pool: Pool) -> list[Problem]:
    """Problems with where the pool sits in the served zones.

    A CNAME at the pool's name (or a delegation above it) is a 422, not a 409: the request
    contradicts the zone files, which this API does not own; no retry or re-read of a pool
    resolves it, only an edit of the zone file or another pool name.
    """
    zones = request.app[SNAPSHOTS].current.zones
    problems = check_pool_in_zones(pool, [z.origin_text for z in zones.values()])
    if problems:
        return problems
    key = names.from_text(pool.name)
    zone = containing_zone(zones, key)
    why = placement_problem(zone, key) if zone is not None else None
    if why is not None:
        return [Problem("name", f"{pool.name} cannot be a pool: {why}")]
    return []


def pool_response(pool: Pool, version: int, status: int = 200) -> web.Response:
    response = web.json_response(to_document(pool), status=status)
    response.headers["ETag"] = etag(version)
    return response


async def write_pool(
    request: web.Request, name: str, attempt: Callable[[Pool, int], Awaitable[T]]
) -> T:
    """Run attempt(current pool, its version), which writes with that version as if_version.

    With If-Match, the version must be one it names (else 412). Without, a concurrent write
    between the read and the write makes the store refuse, and the read-validate-write
    round runs again, so no change is ever validated against one version and applied to
    another.
    """
    store = store_of(request)
    allowed = if_match(request)
    for _ in range(WRITE_ATTEMPTS):
        pool, version = await store.get_pool(name)
        if allowed is not None and version not in allowed:
            if len(allowed) == 1:
                raise StaleVersion(name, next(iter(allowed)), version)
            wanted = ", ".join(etag(v) for v in sorted(allowed)) or "no version of a pool"
            raise HttpError(
                412,
                f"If-Match names {wanted}, but pool {name} is at {etag(version)}: "
                "read it again and retry",
                {"ETag": etag(version)},
            )
        try:
            return await attempt(pool, version)
        except StaleVersion:
            if allowed is not None:
                raise
    raise HttpError(409, f"pool {name} kept changing during this write: retry")


async def fetch_pool_page(request: web.Request) -> tuple[list[Pool], str | None]:
    """The page of pools ?zone=, ?limit= and ?cursor= ask for, and the next page's cursor
    (None on the last page); a bad parameter is a 422 naming it."""
    params = PageParams(request)
    zone = request.query.get("zone")
    if zone is not None and (why := name_problem(zone)) is not None:
        params.add("zone", why)
    params.done()
    pools = await store_of(request).list_pools(zone, params.limit + 1, params.cursor)
    shown = pools[: params.limit]
    cursor = encode_cursor(shown[-1].name) if len(pools) > params.limit and shown else None
    return shown, cursor


async def list_pools(request: web.Request) -> web.Response:
    shown, cursor = await fetch_pool_page(request)
    return page(request, "pools", [to_document(p) for p in shown], cursor)


def replacing_static(doc: JSON) -> tuple[JSON, bool]:
    """doc without its replace_static flag (a word about this request, never stored), and
    the flag's value; ValidationError when it is not true or false."""
    if REPLACE_STATIC not in doc:
        return doc, False
    value = doc[REPLACE_STATIC]
    if not isinstance(value, bool):
        problem = Problem(REPLACE_STATIC, f"must be true or false, got {value!r}")
        raise ValidationError("pool request", [problem])
    return {k: v for k, v in doc.items() if k != REPLACE_STATIC}, value


def static_problems(request: web.Request, pool: Pool) -> list[Problem]:
    """A pool at a name whose zone file has A or AAAA records would answer instead of
    them, silently: say so unless the request says it means it (422 naming the field)."""
    problem = static_problem(request.app[PUBLISHER].zones, pool.name)  # without pools
    return [problem] if problem is not None else []


async def create_pool(request: web.Request) -> web.Response:
    notes: list[Problem] = []
    doc, replace_static = replacing_static(await read_object(request))
    pool = validate(request, doc, notes)
    if not replace_static and (problems := static_problems(request, pool)):
        raise ValidationError(f"pool {pool.name}", problems)
    version = await store_of(request).create_pool(pool, actor=caller(request).name)
    await publish(request)
    response = pool_response(pool, version, 201)
    response.headers["Location"] = pool_url(pool.name)
    return warn_deprecated(request, response, notes)


async def get_pool(request: web.Request) -> web.Response:
    pool, version = await store_of(request).get_pool(pool_name(request))
    return pool_response(pool, version)


def same_name(doc: JSON, name: str) -> JSON:
    """doc with name filled in from the URL; 422 when it names another pool."""
    given = doc.get("name", name)
    if isinstance(given, str) and name_problem(given) is None and normalise_name(given) == name:
        return {**doc, "name": name}
    raise ValidationError(
        f"pool {name}",
        [
            Problem(
                "name",
                f"must be {name}, the pool of the URL (to rename: create the new "
                f"pool, then delete this one), got {given!r}",
            )
        ],
    )


async def replace_pool(request: web.Request) -> web.Response:
    name = pool_name(request)
    doc = same_name(await read_object(request), name)
    store = store_of(request)
    notes: list[Problem] = []

    async def attempt(_: Pool, version: int) -> tuple[Pool, int]:
        pool = validate(request, doc, notes)
        return pool, await store.replace_pool(pool, version, actor=caller(request).name)

    pool, version = await write_pool(request, name, attempt)
    await publish(request)
    return warn_deprecated(request, pool_response(pool, version), notes)


async def patch_pool(request: web.Request) -> web.Response:
    """RFC 7396 merge patch on the pool document, then the whole result is validated."""
    name = pool_name(request)
    # the current document has the new spellings: a patch with an old one must replace
    # that field, not sit beside it
    patch, notes = spelled_with_units(await read_object(request))
    store = store_of(request)

    async def attempt(current: Pool, version: int) -> tuple[Pool, int]:
        doc = same_name(merge_patch(to_document(current), patch), name)
        pool = validate(request, doc)
        return pool, await store.replace_pool(pool, version, actor=caller(request).name)

    pool, version = await write_pool(request, name, attempt)
    await publish(request)
    return warn_deprecated(request, pool_response(pool, version), notes)


async def delete_pool(request: web.Request) -> web.Response:
    name = pool_name(request)
    store = store_of(request)

    async def attempt(_: Pool, version: int) -> None:
        await store.delete_pool(name, version, actor=caller(request).name)

    await write_pool(request, name, attempt)
    await publish(request)
    return web.Response(status=204)
