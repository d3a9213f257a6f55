"""The open-internet defences around the answer path, as both answer paths apply them.

Pure: no I/O, no awaits (the clock is read, nothing is waited for). One Defences per
process, built from the settings by app.py; PacketAnswerer (the reference path) and
CachingAnswerer (the front) call the same methods, so a reply is the same bytes on both:

1. who may ask (acl.py), before anything is decoded: denied sources are dropped, or
   answered REFUSED with EDE 18;
2. the answer is computed (or found in the cache);
3. response rate limiting (rrl.py) on UDP: send, drop, or send the slip form instead:
   TC, or for a query with a client cookie BADCOOKIE with a fresh server cookie (as BIND
   does: the client retries over UDP with it, and is then never limited); a query with a
   valid server cookie (options.py) is never limited, nor is TCP;
4. the send-time options (options.py): COOKIE and NSID added to the reply's OPT.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from geodns.answer.acl import AccessList, DenyAction
from geodns.answer.context import QueryContext, Transport
from geodns.answer.options import ReplyOptions, nsid_payload
from geodns.answer.reply import compile_reply
from geodns.answer.resolve import Answer, Kind
from geodns.answer.rrl import (
    SEND,
    SLIP,
    Limiter,
    RateLimiter,
    ResponseKey,
    RrlConfig,
    Verdict,
    response_key,
)
from geodns.dns.wire import Query
from geodns.settings import Settings

TCP = Transport.TCP  # module globals: an enum member read through its class costs ~6x more


@dataclass
class Defences:
    """What stands between a packet and its answer; the default lets everything through."""

    access: AccessList | None = None  # None: everyone may ask; replaced whole on SIGHUP
    deny_action: DenyAction = DenyAction.REFUSE
    limiter: Limiter | None = None  # None: RRL is off; the native plane's is in C
    clock: Callable[[], float] = time.time  # seconds; RRL counts whole ones, as BIND does
    denied: Counter[str] = field(default_factory=Counter)  # by action
    options: ReplyOptions = field(default_factory=ReplyOptions)  # COOKIE, NSID

    def limit(
        self, out: bytes, key: bytes, slip: bytes | None, source: str, transport: Transport
    ) -> bytes | None:
        """The reply as RRL lets it go: out, its slip form (slip is the form after the
        ID; None: none, drop instead), or None to drop it. TCP is never limited."""
        limiter = self.limiter
        if limiter is None or transport is TCP:
            return out
        verdict = limiter.check(source, key, int(self.clock()))
        if verdict is SEND:
            return out
        if verdict is SLIP and slip is not None:
            return out[:2] + slip
        return None

    def verdict(self, key: bytes, source: str) -> Verdict:
        """RRL's verdict on a UDP response to a cookie client, whose slip is not the TC
        form but BADCOOKIE (the caller builds it). Only called with RRL on."""
        assert self.limiter is not None
        return self.limiter.check(source, key, int(self.clock()))


def rrl_key(ctx: QueryContext, answer: Answer) -> ResponseKey:
    """The answer's RRL key, with the ECS source network when the query had one."""
    query = ctx.query
    edns = query.edns
    ecs = ctx.client_network() if edns is not None and edns.client_subnet is not None else None
    return response_key(answer, query.qname, query.qtype, ecs)


def slip_form(query: Query, answer: Answer) -> bytes | None:
    """What a slipped response is, after the ID: the answer's truncated form (TC set, the
    RCODE kept, no records: the client retries over TCP). None for an error, which is
    dropped when limited (it cannot be made smaller)."""
    if answer.kind is Kind.ERROR:
        return None
    truncated = compile_reply(query, answer, 0)  # nothing fits in 0 bytes: the TC form
    return truncated.head + truncated.tail


def rrl_config(settings: Settings) -> RrlConfig:
    return RrlConfig(
        responses_per_second=settings.rrl_responses_per_second,
        nodata_per_second=settings.rrl_nodata_per_second,
        nxdomains_per_second=settings.rrl_nxdomains_per_second,
        referrals_per_second=settings.rrl_referrals_per_second,
        errors_per_second=settings.rrl_errors_per_second,
        all_per_second=settings.rrl_all_per_second,
        window_s=settings.rrl_window_s,
        slip=settings.rrl_slip,
        ipv4_prefix=settings.rrl_ipv4_prefix,
        ipv6_prefix=settings.rrl_ipv6_prefix,
        exempt=settings.rrl_exempt,
        log_only=settings.rrl_log_only,
        max_entries=settings.rrl_max_entries,
    )


def access_list(settings: Settings) -> AccessList | None:
    """dns_allow / dns_deny; None when they let everyone in."""
    access = AccessList(settings.dns_allow, settings.dns_deny)
    return access if access else None


def defences_from(settings: Settings) -> Defences:
    config = rrl_config(settings)
    return Defences(
        access=access_list(settings),
        deny_action=DenyAction(settings.dns_deny_action),
        limiter=RateLimiter(config) if config.enabled else None,
        options=ReplyOptions(
            settings.cookies, settings.require_server_cookie, nsid_payload(settings.nsid)
        ),
    )
