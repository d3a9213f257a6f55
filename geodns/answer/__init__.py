"""The query path above the snapshot: resolve a decoded query into an Answer, compile it
into a Reply, cache replies by what they depend on, and serve them over UDP and TCP.

Synchronous and without I/O apart from server.py (asyncio listeners: framing and
dispatch) and querylog.py (logging).
"""
