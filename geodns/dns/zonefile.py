"""RFC 1035 §5 master files -> Zone, with every load-time problem reported as path:line.

Pure apart from the load_* functions and $INCLUDE, which reads files only when
parse_zone_text is given an include_root. The steps have a module each:
zonefile_tokens (text -> entries), zonefile_reader (directives and records; RDATA text
is built by geodns.dns.rdata), zonefile_checks (what a zone may hold); here the
RRsets, the Zone, and loading a directory so that a bad file spares the others.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from geodns.dns import names, rdatatype
from geodns.dns.rdata import type_to_text
from geodns.dns.zone import RRset, Zone, build_zone
from geodns.dns.zonefile_checks import check_records
from geodns.dns.zonefile_reader import MasterReader, Record, reason_of
from geodns.errors import Problem, ZoneFileError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ZoneLoad:
    """One pass over a zone directory: the zones that loaded and, by file, why others did not."""

    zones: dict[bytes, Zone]
    errors: dict[str, ZoneFileError]


def _rrsets(records: Iterable[Record], minimum: int) -> list[RRset]:
    """One RRset per (owner, type): identical records collapse, the lowest TTL wins."""
    groups: dict[tuple[bytes, int], list[Record]] = {}
    for r in records:
        groups.setdefault((r.owner, r.rtype), []).append(r)
    rrsets = []
    for (owner, rtype), group in groups.items():
        ttls = {minimum if r.ttl is None else r.ttl for r in group}
        if len(ttls) > 1:  # RFC 2181 §5.2 says they should match; not worth refusing a zone
            log.warning(
                "zone rrset ttls differ owner=%s type=%s ttls=%s using=%d at=%s",
                names.to_text(owner),
                type_to_text(rtype),
                sorted(ttls),
                min(ttls),
                group[0].where,
            )
        rdatas = tuple(dict.fromkeys(r.rdata.wire for r in group))
        targets = tuple(dict.fromkeys(r.rdata.target for r in group if r.rdata.target))
        rrsets.append(RRset(owner, rtype, min(ttls), rdatas, targets))
    return rrsets


def parse_zone_text(
    text: str, *, origin: str | None, source: str, include_root: Path | None
) -> Zone:
    """Master-file text -> Zone; raises ZoneFileError listing every problem.

    The zone's origin is the $ORIGIN in force at the first record, else `origin`.
    A record without a TTL takes $TTL, else the last explicit TTL, else (BIND's
    fallback) the SOA MINIMUM. $INCLUDE paths are relative to the including file;
    for the text itself, to include_root (None: $INCLUDE is a problem).
    """
    return _parse(text, origin, source, include_root, None)


def _parse(
    text: str, origin: str | None, source: str, include_root: Path | None, path: Path | None
) -> Zone:
    start: bytes | None = None
    if origin is not None:
        try:
            start = names.from_text_preserving_case(origin, names.ROOT)
        except names.NameTextError as exc:
            raise ZoneFileError(source, [Problem(f"{source}:1", f"bad origin: {exc}")]) from None
    reader = MasterReader(start)
    if path is not None:
        reader.stack.append(path.resolve())
    reader.read(text, source, include_root)
    zone_origin = reader.zone_origin
    if not reader.started and reader.origin is not None:
        zone_origin = reader.origin.lower()
    if zone_origin is None:
        reader.report(f"{source}:1", "no origin: start the file with $ORIGIN <zone name>.")
        raise ZoneFileError(source, reader.problems)
    inside = check_records(zone_origin, reader.records, reader.failed_types, source, reader.report)
    if reader.problems:
        raise ZoneFileError(source, reader.problems)
    soa = next(r for r in inside if r.rtype == rdatatype.SOA)
    minimum = int(struct.unpack("!I", soa.rdata.wire[-4:])[0])
    return build_zone(zone_origin, _rrsets(inside, minimum), source)


def load_zone_file(path: Path) -> Zone:
    """Read and parse one zone file; without $ORIGIN, "example.com.zone" is example.com."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(f"{source}:1", f"cannot read: {reason_of(exc)}")
        raise ZoneFileError(source, [problem]) from None
    stem = path.name.removesuffix(".zone")
    origin = (stem if stem.endswith(".") else stem + ".") if stem != path.name else None
    return _parse(text, origin, source, path.parent, path)


def load_zone_dir(directory: Path) -> ZoneLoad:
    """Every *.zone file in directory (sorted, not recursive); a bad file spares the others.

    Raises ZoneFileError only when the directory itself cannot be listed.
    """
    try:
        # iterdir, not glob: a missing directory must fail loudly, not look empty
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".zone" and p.is_file())
    except OSError as exc:
        raise ZoneFileError(
            str(directory),
            [Problem(str(directory), f"cannot list the zone directory: {reason_of(exc)}")],
        ) from None
    zones: dict[bytes, Zone] = {}
    errors: dict[str, ZoneFileError] = {}
    for path in paths:
        try:
            zone = load_zone_file(path)
        except ZoneFileError as exc:
            errors[str(path)] = exc
            continue
        if zone.origin in zones:
            errors[str(path)] = ZoneFileError(
                str(path),
                [
                    Problem(
                        f"{path}:1",
                        f'zone "{zone.origin_text}" is already loaded from '
                        f"{zones[zone.origin].source}: keep one file per zone",
                    )
                ],
            )
            continue
        zones[zone.origin] = zone
    return ZoneLoad(zones, errors)


def merge_reload(previous: dict[bytes, Zone], load: ZoneLoad) -> dict[bytes, Zone]:
    """The zones to serve after a reload, so that a bad edit never takes a zone down.

    A file that failed keeps its previous zone (found by source path) unless another
    file now serves that origin; a file that is gone drops its zone.
    """
    merged = dict(load.zones)
    for zone in previous.values():
        if zone.source in load.errors and zone.origin not in merged:
            merged[zone.origin] = zone
    return merged
