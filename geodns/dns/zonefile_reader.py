"""Master-file state (RFC 1035 §5.1): $ORIGIN, $TTL, $INCLUDE, owners and TTLs -> records.

Reads $INCLUDE files (the only I/O), relative to the including file. Builds each
record's RDATA through geodns.dns.rdata and collects every problem as "path:line";
what a zone may hold is zonefile_checks' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geodns.dns import names
from geodns.dns.rdata import (
    Rdata,
    RdataError,
    Token,
    build_rdata,
    parse_ttl,
    type_from_text,
    type_to_text,
)
from geodns.dns.zonefile_tokens import Entry, split_entries
from geodns.errors import Problem

MAX_INCLUDE_DEPTH = 8
CLASSES = {"IN", "CH", "HS", "CS", "NONE", "ANY"}
_BROKEN_OWNER = b""  # the last owner failed to parse: records that inherit it are skipped


@dataclass(frozen=True, slots=True)
class Record:
    owner: bytes
    rtype: int
    ttl: int | None  # None: no TTL in force yet, so the SOA MINIMUM applies
    rdata: Rdata
    where: str
    seq: int


class MasterReader:
    """Master-file state (RFC 1035 §5.1): origin, last owner, TTLs; collects records."""

    def __init__(self, origin: bytes | None) -> None:
        self.problems: list[Problem] = []
        self.records: list[Record] = []
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
        for entry in split_entries(text, source, self.problems):
            first = entry.tokens[0]
            if not entry.blank_owner and not first.quoted and first.text.startswith("$"):
                self._directive(entry, base)
            else:
                self._record(entry)

    def report(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def _directive(self, entry: Entry, base: Path | None) -> None:
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

    def _include(self, entry: Entry, base: Path | None, args: tuple[Token, ...]) -> None:
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
            self.report(entry.where, f'cannot read $INCLUDE file "{path}": {reason_of(exc)}')
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

    def _record(self, entry: Entry) -> None:
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
            ttl, tokens = ttl_and_class(tokens)
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
        self.records.append(Record(owner, rtype, ttl, rdata, entry.where, len(self.records)))


def ttl_and_class(tokens: list[Token]) -> tuple[int | None, list[Token]]:
    """[TTL] [CLASS] in either order (RFC 1035 §5.1); only class IN is served."""
    ttl: int | None = None
    seen_class = False
    while tokens and not tokens[0].quoted:
        word = tokens[0].text
        if ttl is None and word[:1].isdigit():
            ttl = parse_ttl(word)
        elif not seen_class and (word.upper() in CLASSES or word.upper().startswith("CLASS")):
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


def reason_of(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text: save it as UTF-8"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
