"""Domain names as the data plane keeps them: lowercase, uncompressed wire bytes.

Pure: no I/O. A name key such as b"\\x03www\\x07example\\x03com\\x00" compares
case-insensitively by construction (RFC 4343: ASCII letters only are folded), and
its parent is a slice, so walking up the tree allocates nothing but the slice.
"""

from __future__ import annotations

from geodns.errors import GeodnsError

ROOT = b"\x00"


class NameTextError(GeodnsError, ValueError):
    """A textual name that cannot be a domain name (RFC 1035 §2.3.4 limits).

    (A name in a packet that breaks the limits is wire.BadName, a FormError.)
    """


def parent(name: bytes) -> bytes:
    """The name one label up; the root's parent is the root."""
    return name if name == ROOT else name[name[0] + 1 :]


def label_count(name: bytes) -> int:
    count, i = 0, 0
    while name[i]:
        count += 1
        i += name[i] + 1
    return count


def is_subdomain(name: bytes, origin: bytes) -> bool:
    """True when name equals origin or lies below it (both lowercase keys)."""
    if not name.endswith(origin):
        return False
    if len(name) == len(origin):
        return True
    # the suffix must start on a label boundary, not inside a label
    i = 0
    cut = len(name) - len(origin)
    while i < cut:
        i += name[i] + 1
    return i == cut


def ancestors(name: bytes, origin: bytes) -> list[bytes]:
    """Names strictly between origin and name, from just below origin down to name's parent."""
    out = []
    current = parent(name)
    while len(current) > len(origin):
        out.append(current)
        current = parent(current)
    out.reverse()
    return out


def from_text(text: str, origin: bytes | None = None) -> bytes:
    """Text name (with RFC 1035 §5.1 backslash escapes) -> lowercase wire key.

    A name without a trailing dot is relative to origin; "@" is origin itself.
    """
    return from_text_preserving_case(text, origin).lower()


def from_text_preserving_case(text: str, origin: bytes | None = None) -> bytes:
    if text == "@":
        if origin is None:
            raise NameTextError("'@' needs an origin")
        return origin
    if text == ".":
        return ROOT
    labels: list[bytes] = []
    current = bytearray()
    absolute = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 3 < n + 1 and text[i + 1 : i + 4].isdigit():
                value = int(text[i + 1 : i + 4])
                if value > 255:
                    raise NameTextError(f"escape \\{text[i + 1 : i + 4]} is over 255 in {text!r}")
                current.append(value)
                i += 4
                continue
            if i + 1 >= n:
                raise NameTextError(f"trailing backslash in {text!r}")
            current.extend(text[i + 1].encode("utf-8"))
            i += 2
            continue
        if ch == ".":
            if not current:
                raise NameTextError(f"empty label in {text!r}")
            labels.append(bytes(current))
            current = bytearray()
            if i == n - 1:
                absolute = True
            i += 1
            continue
        current.extend(ch.encode("utf-8"))
        i += 1
    if current:
        labels.append(bytes(current))
    wire = bytearray()
    for label in labels:
        if len(label) > 63:
            raise NameTextError(
                f"label {label[:20]!r}... is {len(label)} bytes, over 63 (RFC 1035 §2.3.4)"
            )
        wire.append(len(label))
        wire.extend(label)
    if absolute:
        wire.append(0)
        result = bytes(wire)
    else:
        if origin is None:
            raise NameTextError(f"relative name {text!r} without an origin")
        result = bytes(wire) + origin
    if len(result) > 255:
        raise NameTextError(
            f"name {text!r} is {len(result)} bytes in wire form, over 255 (RFC 1035 §2.3.4)"
        )
    return result


def to_text(name: bytes) -> str:
    """Wire name -> presentation text with a trailing dot, escaping as RFC 1035 §5.1."""
    if name == ROOT:
        return "."
    parts: list[str] = []
    i = 0
    while name[i]:
        length = name[i]
        label = name[i + 1 : i + 1 + length]
        chars = []
        for byte in label:
            if byte in b'.\\"();@$':
                chars.append("\\" + chr(byte))
            elif 0x21 <= byte <= 0x7E:
                chars.append(chr(byte))
            else:
                chars.append(f"\\{byte:03d}")
        parts.append("".join(chars))
        i += length + 1
    return ".".join(parts) + "."
