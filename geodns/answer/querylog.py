"""--query-log: one INFO line per query, wrapped around the answerer only when asked for.

Off by default, so the query path pays nothing for it; on, each line costs a decode
of the question and a logging call.
"""

from __future__ import annotations

import logging

from geodns.answer.context import Transport
from geodns.answer.server import Answer
from geodns.dns import names, rcode
from geodns.dns.wire import FormError, decode_query

log = logging.getLogger("geodns.queries")


class QueryLogger:
    """Answers through answer and logs client, transport, question, rcode and answer count."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    def __call__(self, data: bytes, source: str, transport: Transport) -> bytes | None:
        reply = self._answer(data, source, transport)
        try:
            query = decode_query(data)
            question = f"{names.to_text(query.qname)} type={query.qtype}"
        except FormError as exc:
            question = f"malformed ({exc.reason})"
        if reply is None:
            log.info("query client=%s transport=%s %s dropped", source, transport.value, question)
        else:
            code = rcode.to_text(reply[3] & 0x0F)
            answers = int.from_bytes(reply[6:8], "big")
            tc = " tc" if reply[2] & 0x02 else ""
            log.info(
                "query client=%s transport=%s %s rcode=%s answers=%d%s",
                source,
                transport.value,
                question,
                code,
                answers,
                tc,
            )
        return reply
