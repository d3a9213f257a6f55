"""The OpenAPI document against the app as built: every route documented and nothing
more, roles from the route table, and schemathesis over every operation of the running
app finding no server error and no response the document does not allow."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_client import Api, serve_api, settings_for
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geodns.api.app import make_api
from geodns.api.keys import PERMISSIONS
from geodns.api.openapi import document
from geodns.api.routes import ROUTES
from geodns.settings import Settings

APP = make_api(Settings())
DOCUMENT = document(APP[PERMISSIONS])
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
METHODS = {"get", "put", "post", "patch", "delete"}


def test_every_route_is_documented_and_every_documented_operation_is_a_route() -> None:
    registered = {
        (r.method, r.resource.canonical) for r in APP.router.routes() if r.resource is not None
    }
    documented = {
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert registered == documented
    assert len(registered) == len(ROUTES)


def test_each_operation_names_the_roles_the_middleware_enforces() -> None:
    for route in ROUTES:
        operation = DOCUMENT["paths"][route.path][route.method.lower()]
        if route.roles is None:
            assert operation["security"] == [] and "x-roles" not in operation
            assert "401" not in operation["responses"]
        else:
            assert operation["x-roles"] == sorted(route.roles)
            assert {"401", "403"} <= set(operation["responses"])


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The real app with its store on SQLite, in a thread of its own (schemathesis's
    requests are synchronous), with one pool to find."""
    workdir = tmp_path_factory.mktemp("openapi")
    config = settings_for(f"sqlite+aiosqlite:///{workdir / 'geodns.db'}", workdir)
    started: list[Api] = []
    ready, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def body(api: Api) -> None:
        await api.call(
            "POST",
            "/api/v1/pools",
            {"name": "lb.example.test", "members": [{"address": "192.0.2.11"}]},
        )
        started.append(api)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)

    def run() -> None:
        try:
            asyncio.run(serve_api(config, body))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the API did not start"
    if failure:
        raise failure[0]
    yield started[0]
    stop.set()
    thread.join(30)


@pytest.mark.slow
@SCHEMA.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_running_app_keeps_to_its_openapi_document(case: Any, running: Api) -> None:
    headers = {"Authorization": f"Bearer {running.tokens['admin']}"}
    case.call_and_validate(base_url=running.base, headers=headers, checks=CHECKS)
