"""RFC 1035 §5.1 master-file text -> logical lines of tokens.

Pure. Parentheses join lines, comments are dropped, quoting and escapes are kept as
Token.quoted and the text; each entry says where it started ("path:line") and whether
its owner was left blank (inherited from the record before).
"""

from __future__ import annotations

from dataclasses import dataclass

from geodns.dns.rdata import Token
from geodns.errors import Problem

BARE_END = ' \t\r\n;()"'


@dataclass(frozen=True, slots=True)
class Entry:
    """One logical line: parentheses joined, comments dropped."""

    where: str
    blank_owner: bool
    tokens: tuple[Token, ...]


def split_entries(text: str, source: str, problems: list[Problem]) -> list[Entry]:
    """Text -> logical lines of tokens; quoting and escapes per RFC 1035 §5.1."""
    entries: list[Entry] = []
    tokens: list[Token] = []
    line, start, paren, blank, broken, fresh = 1, 1, 0, False, False, True
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, i = line + 1, i + 1
            if not paren:
                if tokens and not broken:
                    entries.append(Entry(f"{source}:{start}", blank, tuple(tokens)))
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
            stops = '"\n' if quoted else BARE_END
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
        entries.append(Entry(f"{source}:{start}", blank, tuple(tokens)))
    return entries
