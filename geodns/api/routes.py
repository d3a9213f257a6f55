"""Every route of the API with the roles that may call it: one table, read by make_api,
the token middleware and the OpenAPI test.

Roles (geodns.auth.Role): admin does everything; editor changes pools and reloads zones
and reads everything but tokens and the audit log; prober posts health reports and reads
pools and health (the member lists it checks); reader reads. DNSSEC: admin enables
signing and rolls keys; every reading role reads the keys' state and DS records, which
the zone publishes in DNS anyway. DNS cookies: admin rotates the secret every node shares.
Public (no token):
/healthz, /readyz and /metrics, because kubelets, load balancers and Prometheus carry no
token (bind the API to an internal address to keep /metrics' pool names private), the
OpenAPI document, which describes the API and holds no data, and the console's static
files under /ui/, which sign in with a token and then read the API like any client.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from geodns.api import (
    audit,
    console,
    cookies,
    dnssec,
    explain,
    health,
    members,
    openapi,
    operations,
    pools,
    tokens,
    ui,
    zones,
)
from geodns.api.keys import PERMISSIONS
from geodns.auth import Role

ADMIN = frozenset({Role.ADMIN.value})
EDIT = frozenset({Role.ADMIN.value, Role.EDITOR.value})
PROBE = frozenset({Role.ADMIN.value, Role.PROBER.value})
READ = frozenset({Role.ADMIN.value, Role.EDITOR.value, Role.READER.value})
READ_POOLS = READ | {Role.PROBER.value}
ANY_ROLE = frozenset(role.value for role in Role)
PUBLIC = None

POOL = "/api/v1/pools/{name}"
MEMBER = "/api/v1/pools/{name}/members/{address}"
SIGNED_ZONE = "/api/v1/dnssec/{zone}"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    roles: frozenset[str] | None  # None: public


ROUTES = (
    Route("GET", "/healthz", operations.healthz, PUBLIC),
    Route("GET", "/readyz", operations.readyz, PUBLIC),
    Route("GET", "/metrics", operations.metrics, PUBLIC),
    Route("GET", "/api/v1/openapi.json", openapi.get_openapi, PUBLIC),
    Route("GET", "/ui/", ui.get_console, PUBLIC),
    Route("GET", "/ui/{asset}", ui.get_asset, PUBLIC),
    Route("GET", "/api/v1/whoami", console.get_whoami, ANY_ROLE),
    Route("GET", "/api/v1/overview", console.get_overview, READ),
    Route("GET", "/api/v1/nodes", console.list_nodes, READ),
    Route("GET", "/api/v1/pools", pools.list_pools, READ_POOLS),
    Route("POST", "/api/v1/pools", pools.create_pool, EDIT),
    Route("GET", POOL, pools.get_pool, READ_POOLS),
    Route("PUT", POOL, pools.replace_pool, EDIT),
    Route("PATCH", POOL, pools.patch_pool, EDIT),
    Route("DELETE", POOL, pools.delete_pool, EDIT),
    Route("GET", POOL + "/state", console.get_pool_state, READ),
    Route("GET", POOL + "/members", members.list_members, READ_POOLS),
    Route("GET", MEMBER, members.get_member, READ_POOLS),
    Route("PUT", MEMBER, members.put_member, EDIT),
    Route("PATCH", MEMBER, members.patch_member, EDIT),
    Route("DELETE", MEMBER, members.delete_member, EDIT),
    Route("POST", "/api/v1/health/reports", health.post_reports, PROBE),
    Route("GET", "/api/v1/health/failed", health.get_failed, READ_POOLS),
    Route("GET", "/api/v1/health/addresses/{address}", health.get_address, READ_POOLS),
    Route("GET", "/api/v1/zones", zones.list_zones, READ),
    Route("POST", "/api/v1/zones/reload", zones.reload_zones, EDIT),
    Route("GET", "/api/v1/explain", explain.get_explain, READ),
    Route("GET", "/api/v1/tokens", tokens.list_tokens, ADMIN),
    Route("POST", "/api/v1/tokens", tokens.create_token, ADMIN),
    Route("DELETE", "/api/v1/tokens/{name}", tokens.revoke_token, ADMIN),
    Route("GET", "/api/v1/audit", audit.list_audit, ADMIN),
    Route("GET", "/api/v1/dnssec", dnssec.list_signed, READ),
    Route("GET", SIGNED_ZONE, dnssec.get_status, READ),
    Route("POST", SIGNED_ZONE, dnssec.enable_signing, ADMIN),
    Route("GET", SIGNED_ZONE + "/ds", dnssec.get_ds, READ),
    Route("POST", SIGNED_ZONE + "/rollover", dnssec.roll_key, ADMIN),
    Route("POST", "/api/v1/cookies/rotate", cookies.rotate_cookies, ADMIN),
)


def add_routes(app: web.Application) -> None:
    """Register ROUTES (no implicit HEAD) and the permission table the middleware reads."""
    permissions: dict[tuple[str, str], frozenset[str] | None] = {}
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
        permissions[(route.method, route.path)] = route.roles
    app[PERMISSIONS] = permissions
