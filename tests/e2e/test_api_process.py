"""The API of the real `geodns serve` process and the `geodns token` commands beside it."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from harness import GeodnsProcess, geodns_command

pytestmark = pytest.mark.e2e


def get(
    server: GeodnsProcess, path: str, token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.api + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_token_commands_print_the_token_alone_list_without_secrets_and_revoke(tmp_path: Path):
    database = f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}"
    created = geodns_command(
        "token", "create", "--role", "reader", "--name", "dash", "--database", database
    )
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"gdns_[A-Za-z0-9_-]{43}\n", created.stdout)
    listed = geodns_command("token", "list", "--database", database)
    assert re.fullmatch(
        r"dash\treader\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\tlocal\n", listed.stdout
    )
    assert created.stdout.strip() not in listed.stdout
    twice = geodns_command(
        "token", "create", "--role", "reader", "--name", "dash", "--database", database
    )
    assert (twice.returncode, twice.stdout) == (1, "")
    assert "geodns: token dash already exists: revoke it first or pick a new name" in twice.stderr
    revoked = geodns_command("token", "revoke", "dash", "--database", database)
    assert (revoked.returncode, revoked.stdout) == (0, "token dash revoked\n")
    assert geodns_command("token", "list", "--database", database).stdout == ""
    missing = geodns_command("token", "revoke", "dash", "--database", database)
    assert missing.returncode == 1 and "geodns: no token dash" in missing.stderr
    bad_role = geodns_command(
        "token", "create", "--role", "root", "--name", "x", "--database", database
    )
    assert bad_role.returncode == 2


def test_the_served_api_needs_a_token_from_the_cli_but_not_for_healthz_readyz_metrics(
    fresh_geodns_server: GeodnsProcess, tmp_path: Path
):
    server = fresh_geodns_server
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
        assert get(server, path)[0] == 200, path
    status, headers, body = get(server, "/api/v1/pools")
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="geodns"')
    token = geodns_command(
        "token",
        "create",
        "--role",
        "reader",
        "--name",
        "dash",
        "--database",
        f"sqlite+aiosqlite:///{tmp_path / 'geodns.db'}",
    ).stdout.strip()
    status, _, body = get(server, "/api/v1/zones", token)
    assert status == 200
    assert [z["name"] for z in json.loads(body)["zones"]] == ["example.test.", "other.test."]
    server.query("www.example.test.", "A")
    _, _, metrics = get(server, "/metrics")
    assert re.search(
        rb'geodns_queries_total\{pool="",qtype="A",rcode="NOERROR",'
        rb'transport="udp"\} [1-9]',
        metrics,
    ), metrics.decode()[:2000]
