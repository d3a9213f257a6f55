#!/usr/bin/env python3
"""The usual way to write a DNS server in Python, as the baseline for the static case.

dnslib's DNSServer (a thread per request, socketserver underneath) with a resolver that
decodes and packs every message with dnslib, serving the static names of one zone file.
usage: dnslib_server.py ADDR PORT ZONEFILE      (needs: pip install dnslib)
"""

import sys
import threading

from dnslib import RCODE, RR
from dnslib.server import BaseResolver, DNSServer


class StaticZone(BaseResolver):
    """Answers from a list of resource records; NXDOMAIN for names it does not hold."""

    def __init__(self, zone_text: str) -> None:
        self.rrs = RR.fromZone(zone_text)

    def resolve(self, request, handler):
        reply = request.reply()
        question = request.q
        at_name = [rr for rr in self.rrs if rr.rname == question.qname]
        if not at_name:
            reply.header.rcode = RCODE.NXDOMAIN
        for rr in at_name:
            if rr.rtype == question.qtype:
                reply.add_answer(rr)
        return reply


def main(addr: str, port: str, zonefile: str) -> None:
    with open(zonefile, encoding="utf-8") as f:
        resolver = StaticZone(f.read())
    for tcp in (False, True):  # UDP and TCP on the same address, as every peer does
        DNSServer(resolver, address=addr, port=int(port), tcp=tcp).start_thread()
    threading.Event().wait()  # serve until killed


if __name__ == "__main__":
    main(*sys.argv[1:4])
