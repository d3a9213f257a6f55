"""Health check documents -> Check values: tcp, http or https, timing and rise/fall.

Pure.
"""

from __future__ import annotations

from typing import Any

from geodns.errors import Problem
from geodns.pools.fields import FieldReader, name_problem, show
from geodns.pools.model import Check, CheckType

CHECK_FIELDS = tuple(
    "type port path host expect_status body_contains tls_verify interval_s timeout_s rise"
    " fall".split()
)
# the spellings from before the unit joined the name: still read, each use noted
DEPRECATED_CHECK_FIELDS = {"interval": "interval_s", "timeout": "timeout_s"}
HTTP_ONLY_FIELDS = ("path", "host", "expect_status", "body_contains", "tls_verify")
# Check bounds: probes faster than 0.1 s only load backends; a timeout may use the
# whole interval but not overlap the next probe of the same address.
INTERVAL_S = (0.1, 3600.0)
TIMEOUT_S = (0.01, 60.0)


def validate_check(c: FieldReader, doc: object, where: str) -> Check | None:
    before = len(c.problems)
    fields = c.mapping(doc, where, CHECK_FIELDS, also=tuple(DEPRECATED_CHECK_FIELDS))
    if fields is None:
        return None
    fields = _spelled_with_units(c, fields, where)
    kind: CheckType | None = None
    if "type" not in fields:
        c.add(f"{where}.type", "required: tcp, http or https")
    else:
        kind = c.choice(fields["type"], f"{where}.type", CheckType, [k.value for k in CheckType])
    port = None
    if "port" in fields:
        port = c.integer(fields["port"], f"{where}.port", 1, 65535)
    elif kind is CheckType.TCP:
        c.add(f"{where}.port", "required for a tcp check: 1 to 65535")
    if kind is CheckType.TCP:
        for key in HTTP_ONLY_FIELDS:
            if key in fields:
                c.add(f"{where}.{key}", "only for http and https checks; remove it for tcp")
    path = fields.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/"):
        c.add(f"{where}.path", f"must be a URL path starting with '/', got {show(path)}")
    host = fields.get("host")
    if host is not None and name_problem(host) is not None:
        c.add(f"{where}.host", f"must be a host name for the Host header, got {show(host)}")
    status = validate_status_range(
        c, fields.get("expect_status", [200, 399]), f"{where}.expect_status"
    )
    body = fields.get("body_contains")
    if body is not None and (not isinstance(body, str) or not body):
        c.add(f"{where}.body_contains", f"must be a non-empty string, got {show(body)}")
    tls_verify = c.boolean(fields.get("tls_verify", True), f"{where}.tls_verify")
    interval = c.number(fields.get("interval_s", 10.0), f"{where}.interval_s", *INTERVAL_S)
    timeout = c.number(fields.get("timeout_s", 2.0), f"{where}.timeout_s", *TIMEOUT_S)
    if interval is not None and timeout is not None and timeout > interval:
        c.add(f"{where}.timeout_s", f"must not exceed interval_s ({interval:g} s), got {timeout:g}")
    rise = c.integer(fields.get("rise", 2), f"{where}.rise", 1, 100)
    fall = c.integer(fields.get("fall", 3), f"{where}.fall", 1, 100)
    if len(c.problems) > before:
        return None
    assert kind is not None and status is not None and tls_verify is not None
    assert interval is not None and timeout is not None and rise is not None and fall is not None
    return Check(
        type=kind,
        port=port,
        path=path,
        host=host,
        expect_status=status,
        body_contains=body,
        tls_verify=tls_verify,
        interval_s=interval,
        timeout_s=timeout,
        rise=rise,
        fall=fall,
    )


def validate_status_range(c: FieldReader, value: object, where: str) -> tuple[int, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 100 <= value[0] <= value[1] <= 599
    ):
        return value[0], value[1]
    c.add(where, f"must be [lowest, highest] HTTP status, 100 to 599, got {show(value)}")
    return None


def _spelled_with_units(c: FieldReader, fields: dict[str, Any], where: str) -> dict[str, Any]:
    """fields with each deprecated spelling moved to its new name, and noted; both
    spellings at once is a problem (which one was meant?)."""
    out = dict(fields)
    for old, new in DEPRECATED_CHECK_FIELDS.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out:
            c.add(f"{where}.{old}", f"give {new} only: {old} is its deprecated spelling")
        else:
            out[new] = value
            c.deprecated(f"{where}.{old}", f"deprecated: write {new} (seconds)")
    return out


def spelled_with_units(doc: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """A pool document (or merge patch) with its check's deprecated spellings renamed, and
    a note for each; a check with both spellings of a field is left for validation."""
    check = doc.get("check")
    if not isinstance(check, dict):
        return doc, []
    renamed = dict(check)
    notes = []
    for old, new in DEPRECATED_CHECK_FIELDS.items():
        if old in renamed and new not in renamed:
            renamed[new] = renamed.pop(old)
            notes.append(Problem(f"check.{old}", f"deprecated: write {new} (seconds)"))
    return {**doc, "check": renamed}, notes
