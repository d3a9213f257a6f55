"""CLASS values (RFC 1035 §3.2.4, §3.2.5). Pure: no I/O."""

from __future__ import annotations

IN = 1
CH = 3
HS = 4
NONE = 254  # RFC 2136 §2.4
ANY = 255
