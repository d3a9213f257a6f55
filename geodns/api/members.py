"""/api/v1/pools/{name}/members: one member at a time, so a script can drain one address.

Control plane. Each change is applied to the pool in memory and the whole pool is
validated again (a rule may name the region of the member being removed) before the
store writes the one member row, under the pool's version.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from aiohttp import web

from geodns.api.http import JSON, caller, etag, merge_patch, read_object
from geodns.api.pools import pool_name, pool_url, publish, store_of, validate, write_pool
from geodns.errors import NotFound, Problem, ValidationError
from geodns.pools.member_fields import parse_member
from geodns.pools.model import Member, Pool, member_to_document, to_document


def member_address(request: web.Request) -> str:
    """The {address} of the URL in normal form (as members store it), or as given."""
    raw = request.match_info["address"]
    try:
        return ipaddress.ip_address(raw).compressed
    except ValueError:
        return raw


def find(pool: Pool, address: str) -> Member:
    for member in pool.members:
        if member.address == address:
            return member
    raise NotFound(f"pool {pool.name} has no member {address}")


def member_response(member: Member, version: int, status: int = 200) -> web.Response:
    response = web.json_response(member_to_document(member), status=status)
    response.headers["ETag"] = etag(version)
    return response


def parse_for(address: str, doc: JSON) -> Member:
    """doc -> Member for the URL's address; 422 when the body names another address."""
    given = doc.get("address", address)
    member = parse_member({**doc, "address": given})
    if member.address != address:
        raise ValidationError(
            "member",
            [Problem("address", f"must be {address}, the member of the URL, got {given!r}")],
        )
    return member


def with_member(pool: Pool, member: Member) -> Pool:
    """The pool with member replacing the one at its address, or appended."""
    members = list(pool.members)
    for i, existing in enumerate(members):
        if existing.address == member.address:
            members[i] = member
            break
    else:
        members.append(member)
    return replace(pool, members=tuple(members))


async def list_members(request: web.Request) -> web.Response:
    pool, version = await store_of(request).get_pool(pool_name(request))
    response = web.json_response({"members": [member_to_document(m) for m in pool.members]})
    response.headers["ETag"] = etag(version)
    return response


async def get_member(request: web.Request) -> web.Response:
    pool, version = await store_of(request).get_pool(pool_name(request))
    return member_response(find(pool, member_address(request)), version)


async def put_member(request: web.Request) -> web.Response:
    name, address = pool_name(request), member_address(request)
    doc = await read_object(request)
    store = store_of(request)

    async def attempt(current: Pool, version: int) -> tuple[Member, int, bool]:
        member = parse_for(address, doc)
        validate(request, to_document(with_member(current, member)))
        created = all(m.address != address for m in current.members)
        written = await store.upsert_member(name, member, version, actor=caller(request).name)
        return member, written, created

    member, version, created = await write_pool(request, name, attempt)
    await publish(request)
    response = member_response(member, version, 201 if created else 200)
    if created:
        response.headers["Location"] = f"{pool_url(name)}/members/{address}"
    return response


async def patch_member(request: web.Request) -> web.Response:
    """RFC 7396 merge patch on one member ({"weight": 0} drains it), pool validated whole."""
    name, address = pool_name(request), member_address(request)
    patch = await read_object(request)
    store = store_of(request)

    async def attempt(current: Pool, version: int) -> tuple[Member, int]:
        doc = merge_patch(member_to_document(find(current, address)), patch)
        member = parse_for(address, doc)
        validate(request, to_document(with_member(current, member)))
        return member, await store.upsert_member(name, member, version, actor=caller(request).name)

    member, version = await write_pool(request, name, attempt)
    await publish(request)
    return member_response(member, version)


async def delete_member(request: web.Request) -> web.Response:
    name, address = pool_name(request), member_address(request)
    store = store_of(request)

    async def attempt(current: Pool, version: int) -> int:
        find(current, address)
        rest = tuple(m for m in current.members if m.address != address)
        validate(request, to_document(replace(current, members=rest)))
        return await store.delete_member(name, address, version, actor=caller(request).name)

    version = await write_pool(request, name, attempt)
    await publish(request)
    response = web.Response(status=204)
    response.headers["ETag"] = etag(version)
    return response
