"""/api/v1/zones through the real app: what loaded, and a reload that keeps serving the
previous data of a file it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_client import Api, error_body, run_api, settings_for


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def serve(database_url: str, workdir: Path) -> Any:
    settings = settings_for(database_url, workdir)
    return lambda body: run_api(settings, body)


def test_zones_lists_each_zone_with_serial_records_and_file(serve, workdir):
    async def body(api: Api) -> None:
        reply = await api.call("GET", "/api/v1/zones", token="reader")
        assert (reply.status, reply.body) == (
            200,
            {
                "zones": [
                    {
                        "name": "example.test.",
                        "serial": 2026112201,
                        "records": 45,
                        "file": str(workdir / "zones" / "example.test.zone"),
                        "error": None,
                    },
                    {
                        "name": "other.test.",
                        "serial": 7,
                        "records": 3,
                        "file": str(workdir / "zones" / "other.test.zone"),
                        "error": None,
                    },
                ],
                "errors": [],
            },
        )

    serve(body)


def test_a_reload_refusing_a_file_is_422_with_file_line_problems_and_keeps_the_old_zone(
    serve, workdir
):
    other = workdir / "zones" / "other.test.zone"

    async def body(api: Api) -> None:
        other.write_text(other.read_text().replace(" 7 ", " 8 ") + "www A not-an-address\n")
        reply = await api.call("POST", "/api/v1/zones/reload", token="editor")
        # issue 12 §6: the API's error body, each problem where = "file:line"
        assert (reply.status, reply.body) == (
            422,
            error_body(
                "zone reload refused 1 file(s), their previous data still served: "
                f"{other} (other.test.)",
                [
                    {
                        "where": f"{other}:7",
                        "message": 'A record at "www.other.test.": "not-an-address" is not '
                        "an IPv4 address: write one like 192.0.2.1",
                    }
                ],
            ),
        )
        zones = await api.call("GET", "/api/v1/zones")
        [error] = zones.body["errors"]
        assert error["file"] == str(other)
        assert error["problems"] == reply.body["problems"]
        ready = await api.call("GET", "/readyz", token=None)
        assert (ready.status, ready.body["status"]) == (200, "degraded")
        assert ready.body["zones_refused"] == [
            {**error, "zone": "other.test.", "serving_serial": 7}
        ]
        listed = await api.call("GET", "/api/v1/zones")
        kept = [z for z in listed.body["zones"] if z["name"] == "other.test."][0]
        assert kept["serial"] == 7 and kept["error"] == error["error"]
        assert await api.addresses("www.other.test.") == {"192.0.2.200"}
        other.write_text(
            other.read_text()
            .replace("www A not-an-address\n", "")
            .replace("192.0.2.200", "192.0.2.201")
        )
        fixed = await api.call("POST", "/api/v1/zones/reload", token="editor")
        assert fixed.body["errors"] == []
        assert [z["serial"] for z in fixed.body["loaded"]] == [2026112201, 8]
        assert await api.addresses("www.other.test.") == {"192.0.2.201"}
        log = await api.call("GET", "/api/v1/audit?action=zones.reload")
        assert [(e["actor"], e["after"]) for e in log.body["entries"]] == [
            (
                "editor",
                {
                    "loaded": [
                        {"name": "example.test.", "serial": 2026112201},
                        {"name": "other.test.", "serial": 8},
                    ],
                    "errors": [],
                },
            ),
            (
                "editor",
                {
                    "loaded": [{"name": "example.test.", "serial": 2026112201}],
                    "errors": [str(other)],
                },
            ),
        ]

    serve(body)


def test_a_reload_of_a_vanished_zone_directory_is_422_degraded_and_serves_every_zone(
    serve, workdir
):
    zones = workdir / "zones"

    async def body(api: Api) -> None:
        zones.rename(workdir / "moved")
        reply = await api.call("POST", "/api/v1/zones/reload", token="editor")
        assert reply.status == 422, reply
        [problem] = reply.body["problems"]
        assert problem["where"] == str(zones)
        assert problem["message"].startswith("cannot list the zone directory")
        ready = await api.call("GET", "/readyz", token=None)
        assert (ready.status, ready.body["status"]) == (200, "degraded")
        assert ready.body["reasons"] == [
            f"zones {zones} not read: every zone serves its previous data"
        ]
        assert [z["zone"] for z in ready.body["zones_refused"]] == ["*"]
        assert await api.addresses("www.other.test.") == {"192.0.2.200"}
        (workdir / "moved").rename(zones)
        assert (await api.call("POST", "/api/v1/zones/reload", token="editor")).status == 200
        ready = await api.call("GET", "/readyz", token=None)
        assert (ready.body["status"], ready.body["reasons"]) == ("ready", [])

    serve(body)
