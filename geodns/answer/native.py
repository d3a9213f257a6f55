"""The native data plane: the C loop of _native.c, fed the replies the Python path compiled.

No asyncio here (server.py registers NativeUdp with the loop's add_reader). The C engine
drains a UDP socket with recvmmsg, answers every query it holds a reply for, and hands
each other packet to the CachingAnswerer, whose entry (a Fixed or Drawn reply, and the
client network it holds for) it then keeps: the Python path decides every answer, the C
loop only repeats them. A new snapshot empties the C table before the next batch. TCP
stays on the Python path. Without the built extension the Python data plane serves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from math import comb
from types import ModuleType
from typing import Any

from geodns.answer.acl import AccessList, DenyAction, packed_ranges
from geodns.answer.cache import CachingAnswerer, Drawn, Fixed, StatsKey
from geodns.answer.context import Transport
from geodns.answer.defences import Defences
from geodns.answer.native_rrl import NativeLimiter
from geodns.answer.reply import Reply
from geodns.answer.rrl import RateLimiter, RrlConfig
from geodns.answer.stats import LATENCY_BUCKETS_S, QueryStats
from geodns.dns.rcode import REFUSED
from geodns.errors import ConfigError
from geodns.pools.compile import CompiledMember
from geodns.pools.draw import ROTATE, WEIGHTED
from geodns.snapshot import Snapshot

log = logging.getLogger(__name__)

_native: ModuleType | None
try:
    from geodns.answer import _native  # type: ignore[attr-defined, no-redef, unused-ignore]
except ImportError:  # no C compiler when geodns was installed: the Python data plane serves
    _native = None

NATIVE, PYTHON, AUTO = "native", "python", "auto"
DATA_PLANES = (AUTO, NATIVE, PYTHON)
UDP = Transport.UDP.value
BATCH = 64  # datagrams per recvmmsg / sendmmsg
BUDGET = 512  # datagrams per wake-up of the event loop; then its other callbacks run
SIGNED_SETS = 256  # a signed draw goes to C when it can return at most this many sets
NOT_BUILT = (
    "the native data plane is not built (geodns/answer/_native.c needs a C compiler and the "
    "Python headers: apt-get install build-essential python3-dev, then reinstall geodns, "
    "as ./run does)"
)

Spec = tuple[Any, ...]  # what C keeps of an entry: _native.c, entry_from_spec
Miss = Callable[[bytes, str], tuple[bytes | None, Spec | None]]


def native_built() -> bool:
    return _native is not None


def choose_data_plane(setting: str) -> str:
    """NATIVE or PYTHON for the data_plane setting; ConfigError when native is asked for
    and not built. auto without the extension says so once, at WARNING."""
    if setting == PYTHON:
        return PYTHON
    if _native is not None:
        return NATIVE
    if setting == NATIVE:
        raise ConfigError(f"data_plane = native, but {NOT_BUILT}; or set data_plane = auto")
    log.warning("serving on the python data plane: %s", NOT_BUILT)
    return PYTHON


def describe_data_plane() -> str:
    """For geodns --version: the data plane the default setting (auto) serves on."""
    return NATIVE if _native is not None else f"{PYTHON} ({NOT_BUILT})"


def signed_sets(reply: Reply, members: Sequence[CompiledMember]) -> tuple[Any, ...]:
    """A signed draw's RRSIGs as _native_signed.c keeps them: (masks, records, record_len).

    A mask is a drawn set over the positions of members (the draw's, which C numbers its
    records by); records holds each set's RRSIG records, owned as Reply.assemble writes
    them, in ascending mask order. Only the sets signed so far: C misses to Python on the
    others, and Python signs the set and hands this over again.
    """
    table = reply.signatures
    assert table is not None
    position = {m.index: i for i, m in enumerate(members)}
    owner = reply.signed_owner
    tail_size, blob = table.tail_size, table.blob
    found: list[tuple[int, int]] = []
    for mask, slot in table.by_mask.items():
        drawn, left = 0, mask
        while left:
            low = left & -left
            at = position.get(low.bit_length() - 1)
            if at is None:
                break  # a set of another group of the pool: never drawn here
            drawn |= 1 << at
            left ^= low
        else:
            found.append((drawn, slot * table.record_size))
    found.sort()
    records = b"".join(
        owner + blob[at + i * tail_size : at + (i + 1) * tail_size]
        for _, at in found
        for i in range(table.count)
    )
    return tuple(m for m, _ in found), records, table.count * (len(owner) + tail_size)


class NativeUdp:
    """The add_reader callback of every UDP socket, and the C engine's miss handler.

    With logged (the query log's answerer) every packet goes to Python and is logged, and
    nothing is kept: the log line costs far more than the answer, and one formatter, in
    Python, writes every line alike. dns_allow / dns_deny are checked in C before the table
    (handed over again whenever SIGHUP replaced them). With RRL on, the limiter's table is
    C's (native_rrl.py): the Defences' RateLimiter is replaced by a NativeLimiter over the
    same settings, so the C loop's hits and the Python path's replies debit one table.
    """

    def __init__(
        self,
        cache: CachingAnswerer,
        *,
        logged: Callable[[bytes, str, Transport], bytes | None] | None = None,
        budget: int = BUDGET,
        max_entries: int = 1 << 17,
        max_bytes: int = 64 << 20,
        seed: bytes | None = None,
    ) -> None:
        if _native is None:
            raise ConfigError(NOT_BUILT)
        defences = cache.defences
        every_packet = logged is not None
        self.cache = cache
        self.budget = budget
        self.engine = _native.Engine(
            seed if seed is not None else os.urandom(16),  # table hashing, then the draws
            tuple(round(b * 1e9) for b in LATENCY_BUCKETS_S),
            batch=BATCH,
            max_entries=max_entries,
            max_bytes=max_bytes,
            pass_all=every_packet,
        )
        self._logged = logged
        self._miss: Miss = self._log if logged is not None else self._keep
        self._snapshot: Snapshot | None = None
        self._slots: dict[StatsKey, int] = {}
        self._keys: list[StatsKey] = []
        self._member_slots: dict[str, int] = {}
        self._member_keys: list[str] = []
        self._rotations: dict[bytes, int] = {}
        self._access: tuple[AccessList | None, DenyAction] | None = None
        self.limiter: NativeLimiter | None = None
        if isinstance(defences.limiter, RateLimiter):
            self.use_rrl(defences.limiter.config)  # from now on, one table: C's

    def use_rrl(self, config: RrlConfig | None) -> None:
        """Rate limiting with these settings, in a fresh table in C (None: off); the
        Defences' limiter, which the Python path on this plane asks, is the same table."""
        if config is None or not config.enabled:
            self.engine.set_rrl(None, 1, 0, 0, 0, b"", False, 1, 0, 0)
            self.limiter = None
        else:
            self.limiter = NativeLimiter(config, self.engine)
        self.cache.defences.limiter = self.limiter

    def __call__(self, sock: Any) -> None:
        """The socket is readable: answer what is queued, up to the budget."""
        self._follow_snapshot()
        self.engine.serve(sock.fileno(), self._miss, self.budget, int(self.cache.defences.clock()))
        if self.limiter is not None:
            self.limiter.log_events()

    def answer(self, data: bytes, source: str) -> bytes | None:
        """One UDP query through the C table and miss path, without a socket (tests, fuzz)."""
        self._follow_snapshot()
        now = int(self.cache.defences.clock())
        reply: bytes | None = self.engine.answer(data, source, self._miss, now)
        if self.limiter is not None:
            self.limiter.log_events()
        return reply

    def _follow_snapshot(self) -> None:
        """The current snapshot's table and the current access lists, each in one step."""
        defences = self.cache.defences
        access = defences.access
        if (
            self._access is None
            or access is not self._access[0]
            or (defences.deny_action is not self._access[1])
        ):
            self._access = (access, defences.deny_action)
            drop = defences.deny_action is DenyAction.DROP
            if access is None:
                self.engine.set_access(None, None, drop)
            else:
                self.engine.set_access(
                    packed_ranges(access.allow), packed_ranges(access.deny), drop
                )
        snapshot = self.cache.holder.current
        if snapshot is not self._snapshot:
            self.engine.reset()  # one step: no reply of the old snapshot answers again
            self._rotations = {}
            self._snapshot = snapshot

    def _keep(self, data: bytes, source: str) -> tuple[bytes | None, Spec | None]:
        try:
            reply, entry = self.cache.answer_entry(data, source, Transport.UDP)
            return reply, None if entry is None else self._spec(entry)
        except Exception as exc:  # a bug: counted and logged, the packet dropped
            self.cache.stats.note_failure(type(exc).__name__, exc)
            return None, None

    def _log(self, data: bytes, source: str) -> tuple[bytes | None, Spec | None]:
        assert self._logged is not None
        return self._logged(data, source, Transport.UDP), None

    def _member_slot(self, key: str) -> int:
        slot = self._member_slots.get(key)
        if slot is None:
            slot = self._member_slots[key] = len(self._member_keys)
            self._member_keys.append(key)
        return slot

    def _spec(self, entry: Fixed | Drawn) -> Spec | None:
        """What C keeps of entry: _native.c's entry_from_spec reads it field by field, the
        last three what RRL counts it as (key id, category) and its slip form."""
        assert _native is not None
        limiter = self.limiter
        key = entry.rrl_key
        rrl = (limiter.remember(key) if limiter is not None else 0, key[0], entry.slip)
        slot = self._slots.get(entry.stats_key)
        if slot is None:
            slot = self._slots[entry.stats_key] = len(self._keys)
            self._keys.append(entry.stats_key)
        if type(entry) is Fixed:
            held = tuple(self._member_slot(m.stats_key) for m in entry.members)
            return (_native.FIXED, entry.scope, slot, entry.data, held, *rrl)
        assert type(entry) is Drawn
        draw = entry.draw
        members = draw.members
        if len(members) > _native.MAX_MEMBERS:
            return None
        if entry.signed is not None:
            if (
                len(members) > _native.SIGNED_MAX_MEMBERS
                or comb(len(members), draw.size) > SIGNED_SETS
            ):
                # so many sets that most draws would find theirs unsigned yet (a miss, and
                # this table handed over again): such a pool signs in Python
                return None
        start = 0
        if draw.kind == WEIGHTED:
            weights = draw.weights or [m.member.weight for m in members]
            kind, rotation = _native.DRAW_WEIGHTED, 0
        elif draw.kind == ROTATE and draw.pool is not None:
            weights, kind = [], _native.DRAW_ROTATE
            # one rotation per pool and snapshot, shared by its queries as pool.round_robin
            # is; it goes on from where the Python path's rotation is
            rotation = self._rotations.setdefault(draw.pool.name_key, len(self._rotations))
            start = next(draw.pool.round_robin)
        else:
            return None  # nearest: ordered by distance in Python, every time
        spec: Spec = (
            _native.DRAWN,
            entry.scope,
            slot,
            entry.head,
            entry.tail,
            tuple(entry.records[m.index] for m in members),
            tuple(weights),
            draw.count,
            kind,
            rotation,
            start,
            tuple(self._member_slot(m.stats_key) for m in members),
        )
        if entry.signed is not None:  # a signed draw: its sets before the RRL fields
            spec = (*spec, signed_sets(entry.signed, members))
        return (*spec, *rrl)

    def counters(self) -> dict[str, Any]:
        """The C engine's own counters: hits, misses, table entries and bytes, errors."""
        counters: dict[str, Any] = self.engine.counters()
        return counters

    @property
    def defences(self) -> Defences:
        """The Python path's Defences with the sources C denied counted in: /metrics's view."""
        python = self.cache.defences
        native = self.engine.counters()
        denied = Counter(python.denied)
        denied[DenyAction.REFUSE.value] += native["denied_refused"]
        denied[DenyAction.DROP.value] += native["denied_dropped"]
        return dataclasses.replace(python, denied=+denied)

    @property
    def stats(self) -> QueryStats:
        """The Python path's QueryStats with the C loop's counts added: one view for
        /metrics, whichever path answered."""
        python = self.cache.stats
        native = self.engine.counters()
        merged = QueryStats(
            answered=Counter(python.answered),
            dropped=Counter(python.dropped),
            failures=Counter(python.failures),
            member_answers=Counter(python.member_answers),
        )
        for slot, hits in enumerate(native["slot_hits"][: len(self._keys)]):
            if hits:
                merged.answered[self._keys[slot]] += hits
        for slot, hits in enumerate(native["member_hits"][: len(self._member_keys)]):
            if hits:
                merged.member_answers[self._member_keys[slot]] += hits
        assert _native is not None
        other = _native.REFUSED_QTYPES
        for qtype, count in enumerate(native["refused_by_qtype"]):
            if count:  # REFUSED to denied sources, built in C; qtypes past 255 as one
                merged.answered[(REFUSED, qtype if qtype < other else 65535, UDP, "")] += count
        merged.dropped["ShortHeader"] += native["dropped_short"]
        merged.dropped["NotAQuery"] += native["dropped_response"]
        merged.dropped = +merged.dropped  # no zero-count reasons
        if native["failures"]:
            merged.failures["native_miss_handler"] += native["failures"]
        merged.latency_counts = [
            a + b for a, b in zip(python.latency_counts, native["latency"], strict=True)
        ]
        merged.latency_sum_s = python.latency_sum_s + native["latency_sum_ns"] / 1e9
        return merged
