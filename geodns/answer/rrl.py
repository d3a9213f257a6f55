"""Response rate limiting with BIND's semantics: token buckets per (client block, response).

Pure: no I/O, no awaits; the clock is passed in (whole seconds), the log lines go through
logging, at most once a minute per key. The native loop implements the same rules.

The rules, as BIND 9's ARM states them for `rate-limit`:

- A client block is the source address cut to rrl_ipv4_prefix (/24) or rrl_ipv6_prefix
  (/56); every address of a block shares its buckets.
- The response key says which answers count as identical (response_key()):
  positive answers by qname and qtype (a pool's by the pool name, whatever members were
  drawn); NODATA by name without type; referrals by the delegation (the name owning the
  NS records); every NXDOMAIN of a zone by the zone apex; anything synthesised from a
  wildcard by `*.<zone>`; every other error (REFUSED, FORMERR, SERVFAIL...) by the client
  block alone. A query with ECS adds its source network (as the answer uses it, /24 or
  /56 at most) to every key but the errors', so one resolver asking for many clients is
  not taken for one flood.
- Each bucket earns its category's rate of credits per second, holds at most one
  second's worth, and is debited one per response; a response that takes it below zero
  is limited. Its debt is capped at window x rate, so a client that stops is answered
  again at the latest `window` seconds later; a bucket untouched for longer than the
  window starts full.
- A limited response is dropped, except the first of a run and then every slip-th one,
  which slips: a truncated (TC) reply, or BADCOOKIE with a server cookie when the query
  had a client cookie (the client retries over TCP, or with the cookie, and is exempt).
  slip 0 drops every limited response, slip 1 slips them all. A limited error is always
  dropped: it cannot be made any smaller (BIND's ns_client_error does the same).
- all_per_second debits one bucket per client block for every response; what it limits
  is always dropped, never slipped.
- Exempt networks, TCP and queries with a valid server cookie are never limited (the
  callers check the latter two); log_only counts and logs what would be limited and
  sends everything.
- The table holds at most max_entries buckets; the least recently used goes first.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Protocol

from geodns.answer.acl import NetworkSet
from geodns.answer.context import ClientNetwork, source_network
from geodns.answer.resolve import Answer, Kind
from geodns.dns import names
from geodns.dns.zone import name_end
from geodns.pools.compile import BITS

log = logging.getLogger(__name__)

LOG_EVERY_S = 60  # a key's start/stop lines: at most one a minute
LOG_LINES_PER_S = 20  # and no more than this many a second in all (a flood of keys)
MAX_SOURCES = 65536  # remembered source address -> client block lookups


class Category(enum.IntEnum):
    """Which per-second rate a response is limited by."""

    RESPONSE = 0
    NODATA = 1
    NXDOMAIN = 2
    REFERRAL = 3
    ERROR = 4
    ALL = 5


class Verdict(enum.IntEnum):
    SEND = 0
    DROP = 1
    SLIP = 2


# module-level names of the enum members: the hot path reads them as plain globals
SEND, DROP, SLIP = Verdict.SEND, Verdict.DROP, Verdict.SLIP
ERROR, ALL = int(Category.ERROR), int(Category.ALL)
CATEGORY_NAMES = tuple(c.name.lower() for c in Category)

ResponseKey = bytes  # the category's number, then the name (and type, and ECS network)
ERROR_KEY: ResponseKey = bytes((Category.ERROR,))
ALL_KEY: ResponseKey = bytes((Category.ALL,))
WILDCARD_LABEL = b"\x01*"
EXEMPT = (-1, "")  # a source address rrl_exempt covers (block ids are never negative)


@dataclass(frozen=True, slots=True)
class RrlConfig:
    """The rrl_* settings. A rate of 0 does not limit that category; None is the
    responses_per_second value (BIND's defaults)."""

    responses_per_second: int = 0
    nodata_per_second: int | None = None
    nxdomains_per_second: int | None = None
    referrals_per_second: int | None = None
    errors_per_second: int | None = None
    all_per_second: int = 0
    window_s: int = 15
    slip: int = 2
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56
    exempt: tuple[str, ...] = ()
    log_only: bool = False
    max_entries: int = 20000

    @property
    def enabled(self) -> bool:
        return any(self.rates())

    def rates(self) -> tuple[int, ...]:
        """Credits per second, indexed by Category."""
        responses = self.responses_per_second
        return (
            responses,
            *(
                responses if rate is None else rate
                for rate in (
                    self.nodata_per_second,
                    self.nxdomains_per_second,
                    self.referrals_per_second,
                    self.errors_per_second,
                )
            ),
            self.all_per_second,
        )


def response_key(
    answer: Answer, qname: bytes, qtype: int, ecs: ClientNetwork | None
) -> ResponseKey:
    """Which responses count as identical to this one (see the module docstring)."""
    kind = answer.kind
    zone = answer.zone
    if kind is Kind.ERROR or zone is None:
        return ERROR_KEY
    if kind is Kind.NXDOMAIN:
        category, name = Category.NXDOMAIN, zone.origin
    elif kind is Kind.REFERRAL:
        category, name = Category.REFERRAL, answer.authority[0][0]
    else:
        if answer.wildcard:
            name = WILDCARD_LABEL + zone.origin
        elif answer.pool is not None:
            name = answer.pool_owner
        else:
            name = qname
        if kind is Kind.NODATA:
            category = Category.NODATA
        else:
            category, name = Category.RESPONSE, name + qtype.to_bytes(2, "big")
    key = bytes((category,)) + name
    if ecs is not None:
        key += bytes((ecs.family, ecs.source_prefix)) + ecs.address.to_bytes(16, "big")
    return key


def describe_key(key: ResponseKey) -> str:
    """The key as a log line shows it: category, name, type, ECS network."""
    category = Category(key[0])
    if category in (Category.ERROR, Category.ALL):
        return category.name.lower()
    end = name_end(key, 1)
    text = f"{category.name.lower()} {names.to_text(key[1:end])}"
    if category is Category.RESPONSE:
        text += f" type={int.from_bytes(key[end : end + 2], 'big')}"
        end += 2
    if len(key) > end:
        family, prefix = key[end], key[end + 1]
        address = int.from_bytes(key[end + 2 :], "big")
        shown = ipaddress.IPv6Address(address) if family == 6 else ipaddress.IPv4Address(address)
        text += f" ecs={shown}/{prefix}"
    return text


class Limiter(Protocol):
    """What the answer paths ask of a limiter: RateLimiter here, or the native plane's
    (native_rrl.NativeLimiter), whose table is in C."""

    config: RrlConfig

    def check(self, source: str, key: ResponseKey, now: int) -> Verdict: ...

    @property
    def dropped(self) -> Counter[str]: ...

    @property
    def slipped(self) -> Counter[str]: ...

    @property
    def size(self) -> int: ...


class Bucket:
    """One (client block, response key) account."""

    __slots__ = ("balance", "stamp", "slips", "limited_at", "logged_at", "block")

    def __init__(self, rate: int, now: int, block: str) -> None:
        self.balance = rate
        self.stamp = now
        self.slips = 0  # limited responses since the last slip, modulo slip
        self.limited_at = -1  # last second a response was limited; -1: not being limited
        self.logged_at = -LOG_EVERY_S  # last second a line was logged for this key
        self.block = block  # the client block as text, for the log


def ip_address(family: int, address: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.IPv4Address(address) if family == 4 else ipaddress.IPv6Address(address)


Entry = tuple[int, ResponseKey]  # (client block, response key)


class RateLimiter:
    """The bucket table of one process; check() is called once per UDP response."""

    def __init__(self, config: RrlConfig) -> None:
        self.config = config
        self._rates = config.rates()
        self._window = config.window_s
        self._slip = config.slip
        self._prefix = {4: config.ipv4_prefix, 6: config.ipv6_prefix}
        self._exempt = NetworkSet(config.exempt)
        self._log_only = config.log_only
        self._max_entries = config.max_entries
        self._blocks: dict[str, tuple[int, str]] = {}  # source address -> (block, as text)
        self._table: OrderedDict[Entry, Bucket] = OrderedDict()
        self._limited: dict[Entry, Bucket] = {}  # buckets being limited, for the stop lines
        self._swept_at = -1
        self._lines_at = -1
        self._lines = 0
        self.dropped: Counter[str] = Counter()  # by category; with log_only: would have been
        self.slipped: Counter[str] = Counter()

    @property
    def size(self) -> int:
        return len(self._table)

    def check(self, source: str, key: ResponseKey, now: int) -> Verdict:
        """Debit the response's buckets and say what to do with it. now: whole seconds.

        Called for every UDP response while RRL is on: plain ints and one table lookup on
        the way to SEND (no enum arithmetic, no method call for a bucket in credit)."""
        block = self._blocks.get(source)
        if block is None:
            block = self._block_of(source)
        block_id = block[0]
        if block_id < 0:
            return SEND  # exempt
        if now != self._swept_at:
            self._sweep(now)
        category = key[0]
        verdict = SEND
        rate = self._rates[category]
        if rate:
            entry = (block_id, key)
            bucket = self._table.get(entry)
            if bucket is not None and bucket.stamp == now and bucket.balance > 0:
                self._table.move_to_end(entry)
                bucket.balance -= 1  # in credit within the same second: the common case
            else:
                verdict = self._debit(entry, bucket, category, rate, now, block[1])
        all_rate = self._rates[ALL]
        if all_rate:
            entry = (block_id, ALL_KEY)
            if self._debit(entry, self._table.get(entry), ALL, all_rate, now, block[1]):
                verdict, category = DROP, ALL  # all_per_second never slips
        if verdict is SEND:
            return SEND
        counter = self.dropped if verdict is DROP else self.slipped
        counter[CATEGORY_NAMES[category]] += 1
        return SEND if self._log_only else verdict

    def _debit(
        self, entry: Entry, bucket: Bucket | None, category: int, rate: int, now: int, block: str
    ) -> Verdict:
        table = self._table
        if bucket is None:
            if len(table) >= self._max_entries:
                old, _ = table.popitem(last=False)  # the least recently used
                self._limited.pop(old, None)
            bucket = table[entry] = Bucket(rate, now, block)
        else:
            table.move_to_end(entry)
            age = now - bucket.stamp
            if age > 0:  # a clock stepped back counts as no time
                bucket.stamp = now
                if age > self._window:
                    bucket.balance, bucket.slips = rate, 0
                else:
                    balance = bucket.balance + rate * age
                    if balance >= rate:
                        balance, bucket.slips = rate, 0
                    bucket.balance = balance
        bucket.balance -= 1
        if bucket.balance >= 0:
            return SEND
        floor = -self._window * rate
        if bucket.balance < floor:
            bucket.balance = floor
        if bucket.limited_at < 0:
            self._limited[entry] = bucket
            self._log(bucket, now, "started", entry[1])
        bucket.limited_at = now
        slip = self._slip
        if not slip or category >= ERROR:  # errors and all_per_second are never slipped
            return DROP
        slips = bucket.slips  # the first limited response of a run slips, then every slip-th
        bucket.slips = (slips + 1) % slip
        return SLIP if slips == 0 else DROP

    def _sweep(self, now: int) -> None:
        """Once a second: a key not limited for a whole window has stopped being limited
        (its line waits until a minute after the key's last one)."""
        self._swept_at = now
        stopped = [
            (entry, bucket)
            for entry, bucket in self._limited.items()
            if now - bucket.limited_at > self._window and now - bucket.logged_at >= LOG_EVERY_S
        ]
        for entry, bucket in stopped:
            del self._limited[entry]
            bucket.limited_at = -1
            self._log(bucket, now, "stopped", entry[1])

    def _log(self, bucket: Bucket, now: int, what: str, key: ResponseKey) -> None:
        if what == "started" and now - bucket.logged_at < LOG_EVERY_S:
            return  # limited again within the minute: the last line still holds
        if now != self._lines_at:
            self._lines_at, self._lines = now, 0
        self._lines += 1
        if self._lines > LOG_LINES_PER_S:
            return
        bucket.logged_at = now
        log.warning(
            "rrl %s limiting client=%s key=%s%s",
            what,
            bucket.block,
            describe_key(key),
            " log_only=true" if self.config.log_only else "",
        )

    def _block_of(self, source: str) -> tuple[int, str]:
        network = source_network(source)
        if self._exempt.covers(network):
            block = EXEMPT
        else:
            shift = BITS[network.family] - self._prefix[network.family]
            masked = network.address >> shift << shift
            text = f"{ip_address(network.family, masked)}/{self._prefix[network.family]}"
            block = ((network.family << 128) | masked, text)
        if len(self._blocks) >= MAX_SOURCES:
            self._blocks.clear()
        self._blocks[source] = block
        return block
