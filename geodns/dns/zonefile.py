"""RFC 1035 §5 master files -> Zone, with every load-time problem reported as path:line.

Pure apart from the load_* functions and $INCLUDE, which reads files only when
parse_zone_text is given an include_root. RDATA text is built by geodns.dns.rdata.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from geodns.dns import names, rdatatype
from geodns.dns.rdata import (
    Rdata,
    RdataError,
    Token,
    build_rdata,
    parse_ttl,
    type_from_text,
    type_to_text,
)
from geodns.dns.zone import RRset, Zone, build_zone
from geodns.errors import Problem, ZoneFileError

log = logging.getLogger(__name__)

MAX_INCLUDE_DEPTH = 8
_CLASSES = {"IN", "CH", "HS", "CS", "NONE", "ANY"}
_BARE_END = ' \t\r\n;()"'
_Say = Callable[[str, str], None]  # (where, message): report a problem
_BROKEN_OWNER = b""  # the last owner failed to parse: records that inherit it are skipped


@dataclass(frozen=True, slots=True)
class ZoneLoad:
    """One pass over a zone directory: the zones that loaded and, by file, why others did not."""

    zones: dict[bytes, Zone]
    errors: dict[str, ZoneFileError]


@dataclass(frozen=True, slots=True)
class _Entry:
    """One logical line: parentheses joined, comments dropped."""

    where: str
    blank_owner: bool
    tokens: tuple[Token, ...]


@dataclass(frozen=True, slots=True)
class _Record:
    owner: bytes
    rtype: int
    ttl: int | None  # None: no TTL in force yet, so the SOA MINIMUM applies
    rdata: Rdata
    where: str
    seq: int


def _split(text: str, source: str, problems: list[Problem]) -> list[_Entry]:
    """Text -> logical lines of tokens; quoting and escapes per RFC 1035 §5.1."""
    entries: list[_Entry] = []
    tokens: list[Token] = []
    line, start, paren, blank, broken, fresh = 1, 1, 0, False, False, True
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, i = line + 1, i + 1
            if not paren:
                if tokens and not broken:
                    entries.append(_Entry(f"{source}:{start}", blank, tuple(tokens)))
                tokens, broken, fresh = [], False, True
            continue
        if fresh:
            fresh, start, blank = False, line, ch in " \t"
        if ch in " \t\r":
            i += 1
        elif ch == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch in "()":
            if (ch == "(") == bool(paren):
                what = "nested (" if paren else "unmatched )"
                problems.append(Problem(f"{source}:{line}", f"{what}: one ( ... ) per record"))
                broken = True
            paren = line if ch == "(" else 0
            i += 1
        else:
            quoted = ch == '"'
            j = i + 1 if quoted else i
            stops = '"\n' if quoted else _BARE_END
            while j < n and text[j] not in stops:
                j += 2 if text[j] == "\\" else 1
            j = min(j, n)
            if quoted and (j >= n or text[j] != '"'):
                problems.append(
                    Problem(
                        f"{source}:{line}",
                        'unterminated quoted string: close it with " on its line',
                    )
                )
                broken = True
            else:
                tokens.append(Token(text[i + 1 : j], True) if quoted else Token(text[i:j]))
                j += 1 if quoted else 0
            line += text.count("\n", i, j)  # escaped newlines inside the token
            i = j
    if paren:
        problems.append(Problem(f"{source}:{paren}", "( is never closed: add the )"))
    elif tokens and not broken:
        entries.append(_Entry(f"{source}:{start}", blank, tuple(tokens)))
    return entries


class _Reader:
    """Master-file state (RFC 1035 §5.1): origin, last owner, TTLs; collects records."""

    def __init__(self, origin: bytes | None) -> None:
        self.problems: list[Problem] = []
        self.records: list[_Record] = []
        self.failed_types: set[int] = set()
        self.origin = origin  # case kept: relative names in RDATA keep their case
        self.zone_origin: bytes | None = None  # the origin in force at the first record
        self.started = False
        self.owner: bytes | None = None
        self.default_ttl: int | None = None  # $TTL (RFC 2308 §4)
        self.last_ttl: int | None = None  # the last explicit TTL (RFC 1035 §5.1)
        self.stack: list[Path] = []  # the files being read, to find include loops
        self.depth = 0

    def read(self, text: str, source: str, base: Path | None) -> None:
        for entry in _split(text, source, self.problems):
            first = entry.tokens[0]
            if not entry.blank_owner and not first.quoted and first.text.startswith("$"):
                self._directive(entry, base)
            else:
                self._record(entry)

    def report(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def _directive(self, entry: _Entry, base: Path | None) -> None:
        word, args = entry.tokens[0].text.upper(), entry.tokens[1:]
        wanted = {"$ORIGIN": (1,), "$TTL": (1,), "$INCLUDE": (1, 2)}.get(word)
        if wanted is None:
            self.report(
                entry.where,
                f"unknown directive {entry.tokens[0].text}: "
                "use $ORIGIN, $INCLUDE (RFC 1035 §5.1) or $TTL (RFC 2308 §4)",
            )
        elif len(args) not in wanted:
            self.report(
                entry.where,
                f"{word} takes {' or '.join(map(str, wanted))} "
                f"argument{'s' if wanted[-1] > 1 else ''}, got {len(args)}",
            )
        else:
            try:
                if word == "$ORIGIN":
                    self.origin = names.from_text_preserving_case(args[0].text, self.origin)
                elif word == "$TTL":
                    self.default_ttl = parse_ttl(args[0].text)
                else:
                    self._include(entry, base, args)
            except (names.NameTextError, RdataError) as exc:
                self.report(entry.where, f"{word}: {exc}")

    def _include(self, entry: _Entry, base: Path | None, args: tuple[Token, ...]) -> None:
        if base is None:
            self.report(
                entry.where,
                "$INCLUDE needs the file's directory: load the zone "
                "with load_zone_file, or pass include_root",
            )
            return
        path = base / args[0].text
        if self.depth == MAX_INCLUDE_DEPTH:
            self.report(
                entry.where,
                f'$INCLUDE "{path}" nests deeper than '
                f"{MAX_INCLUDE_DEPTH} files: flatten the includes",
            )
            return
        if path.resolve() in self.stack:
            self.report(
                entry.where,
                f'$INCLUDE "{path}" is already being read (an include loop): remove the loop',
            )
            return
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.report(entry.where, f'cannot read $INCLUDE file "{path}": {_reason(exc)}')
            return
        # RFC 1035 §5.1: an include never changes the includer's origin; like BIND and
        # dnspython, the last owner and TTLs are restored too.
        saved = (self.origin, self.owner, self.default_ttl, self.last_ttl)
        if len(args) == 2:
            self.origin = names.from_text_preserving_case(args[1].text, self.origin)
        self.stack.append(path.resolve())
        self.depth += 1
        try:
            self.read(text, str(path), path.parent)
        finally:
            self.stack.pop()
            self.depth -= 1
            self.origin, self.owner, self.default_ttl, self.last_ttl = saved

    def _record(self, entry: _Entry) -> None:
        if not self.started:
            self.started = True
            self.zone_origin = None if self.origin is None else self.origin.lower()
        tokens = list(entry.tokens)
        if entry.blank_owner:
            if self.owner is None:
                self.report(
                    entry.where,
                    "no owner name and no record before to take it from "
                    "(RFC 1035 §5.1): start the line with a name",
                )
                return
            if self.owner is _BROKEN_OWNER:
                return
            owner = self.owner
        else:
            try:
                owner = self.owner = names.from_text(tokens.pop(0).text, self.origin)
            except names.NameTextError as exc:
                self.owner = _BROKEN_OWNER
                self.report(entry.where, f"bad owner name: {exc}")
                return
        rtype = 0
        try:
            ttl, tokens = _ttl_and_class(tokens)
            if not tokens:
                raise RdataError("missing type and data: write e.g. A 192.0.2.1 after the owner")
            rtype = type_from_text(tokens[0].text)
            rdata = build_rdata(rtype, tokens[1:], self.origin)
        except RdataError as exc:
            self.failed_types.add(rtype)
            what = f'{type_to_text(rtype)} record at "{names.to_text(owner)}": ' if rtype else ""
            self.report(entry.where, f"{what}{exc}")
            return
        if ttl is not None:
            self.last_ttl = ttl
        elif self.default_ttl is not None:
            ttl = self.default_ttl
        else:
            ttl = self.last_ttl  # None until some TTL is known: the SOA MINIMUM, as BIND does
        self.records.append(_Record(owner, rtype, ttl, rdata, entry.where, len(self.records)))


def _ttl_and_class(tokens: list[Token]) -> tuple[int | None, list[Token]]:
    """[TTL] [CLASS] in either order (RFC 1035 §5.1); only class IN is served."""
    ttl: int | None = None
    seen_class = False
    while tokens and not tokens[0].quoted:
        word = tokens[0].text
        if ttl is None and word[:1].isdigit():
            ttl = parse_ttl(word)
        elif not seen_class and (word.upper() in _CLASSES or word.upper().startswith("CLASS")):
            if word.upper() not in ("IN", "CLASS1"):
                raise RdataError(
                    f"class {word} is not served, only IN (RFC 1035 §3.2.4): "
                    "write IN or leave the class out"
                )
            seen_class = True
        else:
            break
        tokens = tokens[1:]
    return ttl, tokens


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text: save it as UTF-8"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _check(origin: bytes, reader: _Reader, source: str) -> list[_Record]:
    """RFC 1034/1035/2181 load-time rules; appends problems, returns the in-zone records."""
    problem, zone = reader.report, names.to_text(origin)
    inside: list[_Record] = []
    for r in reader.records:
        if names.is_subdomain(r.owner, origin):
            inside.append(r)
        else:
            problem(
                r.where,
                f'{type_to_text(r.rtype)} record at "{names.to_text(r.owner)}" is '
                f'outside the zone "{zone}" (out-of-zone data, RFC 1035 §5.2): '
                "remove it or move it to its own zone file",
            )
    soas = [r for r in inside if r.rtype == rdatatype.SOA]
    apex = [r for r in soas if r.owner == origin]
    for r in soas:
        if r.owner != origin:
            problem(
                r.where,
                f'SOA at "{names.to_text(r.owner)}" is not at the zone apex '
                f'"{zone}" (RFC 1035 §5.2): move it to @',
            )
    for r in apex[1:]:
        problem(
            r.where,
            f"second SOA at the zone apex (first at {apex[0].where}) (RFC 1035 §5.2): keep one",
        )
    top = apex[0].where if apex else f"{source}:1"
    if not apex and rdatatype.SOA not in reader.failed_types:
        problem(top, f'no SOA at the zone apex "{zone}" (RFC 1035 §5.2): add one SOA at @')
    if rdatatype.NS not in reader.failed_types and not any(
        r.rtype == rdatatype.NS and r.owner == origin for r in inside
    ):
        problem(top, f'no NS at the zone apex "{zone}" (RFC 1034 §4.2.1): add @ NS records')
    _check_cnames(origin, inside, problem)
    _check_cuts(origin, inside, problem)
    return inside


def _check_cnames(origin: bytes, inside: list[_Record], problem: _Say) -> None:
    by_owner: dict[bytes, list[_Record]] = {}
    for r in inside:
        by_owner.setdefault(r.owner, []).append(r)
    for owner, records in by_owner.items():
        cnames = [r for r in records if r.rtype == rdatatype.CNAME]
        if not cnames:
            continue
        name = names.to_text(owner)
        if owner == origin:
            for r in cnames:
                problem(
                    r.where,
                    f'CNAME at the zone apex "{name}", which has SOA and NS '
                    "(RFC 1034 §3.6.2): use A/AAAA records at @ instead",
                )
            continue
        first = cnames[0]
        for r in cnames[1:]:
            if r.rdata.wire != first.rdata.wire:
                problem(
                    r.where,
                    f'second CNAME at "{name}" (first at {first.where}) (RFC 2181 §10.1): keep one',
                )
        seen: set[int] = set()
        for r in records:  # RFC 4035 §2.5: DNSSEC records may stand beside a CNAME
            if r.rtype in (rdatatype.CNAME, rdatatype.RRSIG, rdatatype.NSEC) or r.rtype in seen:
                continue
            seen.add(r.rtype)
            where = max(first, r, key=lambda x: x.seq).where
            problem(
                where,
                f'CNAME "{name}" beside {_article(r.rtype)} record (RFC 1034 §3.6.2): keep one',
            )


def _check_cuts(origin: bytes, inside: list[_Record], problem: _Say) -> None:
    cuts = {r.owner for r in inside if r.rtype == rdatatype.NS and r.owner != origin}
    if not cuts:
        return
    ns_targets = {r.rdata.target for r in inside if r.rtype == rdatatype.NS}
    for r in inside:
        cut = next((a for a in [*names.ancestors(r.owner, origin), r.owner] if a in cuts), None)
        if cut is None or (
            cut == r.owner
            and r.rtype in (rdatatype.NS, rdatatype.DS, rdatatype.RRSIG, rdatatype.NSEC)
        ):
            continue
        what = f'{type_to_text(r.rtype)} record at "{names.to_text(r.owner)}"'
        below = f'the delegation to "{names.to_text(cut)}"'
        if r.rtype not in (rdatatype.A, rdatatype.AAAA):
            problem(
                r.where,
                f"{what} is occluded by {below} (RFC 1034 §4.2.1): only glue "
                "belongs at or below a zone cut; remove it",
            )
        elif r.owner not in ns_targets:
            problem(
                r.where,
                f"{what} is occluded by {below} and is not glue: no NS names it "
                "(RFC 1034 §4.2.1); remove it or name it in the NS records",
            )


def _article(rtype: int) -> str:
    text = type_to_text(rtype)
    return ("an " if text[0] in "AEFHILMNORSX" else "a ") + text


def _rrsets(records: Iterable[_Record], minimum: int) -> list[RRset]:
    """One RRset per (owner, type): identical records collapse, the lowest TTL wins."""
    groups: dict[tuple[bytes, int], list[_Record]] = {}
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
    reader = _Reader(start)
    if path is not None:
        reader.stack.append(path.resolve())
    reader.read(text, source, include_root)
    zone_origin = reader.zone_origin
    if not reader.started and reader.origin is not None:
        zone_origin = reader.origin.lower()
    if zone_origin is None:
        reader.report(f"{source}:1", "no origin: start the file with $ORIGIN <zone name>.")
        raise ZoneFileError(source, reader.problems)
    inside = _check(zone_origin, reader, source)
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
        problem = Problem(f"{source}:1", f"cannot read: {_reason(exc)}")
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
            [Problem(str(directory), f"cannot list the zone directory: {_reason(exc)}")],
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
