"""Reading one document's fields: each bad one becomes a Problem, and reading goes on.

Pure. What every pool-document check shares: FieldReader (objects, lists, numbers,
choices, region labels), show() to quote what the user wrote, and the domain-name rules
that pool names and check hosts follow. Each Problem.where is a field path such as
"members[2].address"; each message says what is wrong and what would be right.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from geodns.errors import Problem

T = TypeVar("T")

LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")
REGION = re.compile(r"[A-Za-z0-9_.-]{1,63}")
MISSING = object()  # a required field that was absent or bad


def show(value: object) -> str:
    """A value as the user wrote it in JSON/YAML terms: "abc", 3, true, null, [1, 2]."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def normalise_name(text: str) -> str:
    """Lowercase with the trailing dot; the caller has validated it (see name_problem)."""
    text = text.lower()
    return text if text.endswith(".") else text + "."


def name_problem(value: object) -> str | None:
    """Why value is not a fully qualified host name, or None (RFC 1035 §2.3.4 limits)."""
    if not isinstance(value, str) or not value or value == ".":
        return f"must be a domain name such as www.example.com, got {show(value)}"
    labels = value.lower().removesuffix(".").split(".")
    for label in labels:
        if not label:
            return f"empty label in {show(value)}: write the name without doubled dots"
        if len(label) > 63:
            return f"label {show(label[:20] + '...')} is {len(label)} characters, over 63"
        if not LABEL.fullmatch(label):
            return (
                f"label {show(label)} must be letters, digits, '-' and '_', not starting or "
                "ending with '-' (internationalised names: use the xn-- form)"
            )
    wire_length = sum(len(label) + 1 for label in labels) + 1
    if wire_length > 255:
        return f"name is {wire_length} bytes in wire form, over 255"
    return None


def at(where: str, field: str) -> str:
    """The path of field inside where: ("members[2]", "weight") -> "members[2].weight"."""
    return f"{where}.{field}" if where else field


class FieldReader:
    """Reads fields out of one document, recording a Problem for each bad one."""

    def __init__(self, problems: list[Problem], notes: list[Problem] | None = None) -> None:
        self.problems = problems
        self.notes = notes if notes is not None else []  # deprecated spellings used

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def deprecated(self, where: str, message: str) -> None:
        """A spelling that still works but will not for ever: noted, not a problem."""
        self.notes.append(Problem(where, message))

    def mapping(
        self, value: object, where: str, allowed: Sequence[str], also: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """value as an object whose keys are all allowed (or in also: accepted, unlisted)."""
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.add(where or "(document)", f"must be an object with fields, got {show(value)}")
            return None
        for key in value:
            if key not in allowed and key not in also:
                self.add(
                    f"{where}.{key}" if where else key,
                    f"unknown field; expected one of: {', '.join(allowed)}",
                )
        return value

    def list(self, value: object, where: str) -> list[Any] | None:
        if not isinstance(value, list):
            self.add(where, f"must be a list, got {show(value)}")
            return None
        return value

    def integer(self, value: object, where: str, low: int, high: int | None) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            if value >= low and (high is None or value <= high):
                return value
        rule = f"from {low} to {high}" if high is not None else f"of {low} or more"
        self.add(where, f"must be an integer {rule}, got {show(value)}")
        return None

    def number(self, value: object, where: str, low: float, high: float) -> float | None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and low <= value <= high:
                return float(value)
        self.add(where, f"must be a number from {low:g} to {high:g}, got {show(value)}")
        return None

    def boolean(self, value: object, where: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.add(where, f"must be true or false, got {show(value)}")
        return None

    def choice(
        self, value: object, where: str, choices: Callable[[str], T], names: Iterable[str]
    ) -> T | None:
        if isinstance(value, str):
            try:
                return choices(value)
            except ValueError:
                pass
        self.add(where, f"must be one of {', '.join(names)}; got {show(value)}")
        return None

    def region(self, value: object, where: str) -> str | None:
        if isinstance(value, str) and REGION.fullmatch(value):
            return value
        self.add(
            where,
            f"must be a region label (1 to 63 letters, digits, '-', '_' or '.'), got {show(value)}",
        )
        return None

    def regions(self, value: object, where: str) -> tuple[str, ...] | None:
        items = self.list(value, where)
        if items is None:
            return None
        if not items:
            self.add(where, "must list at least one region")
            return None
        out: list[str] = []
        for j, item in enumerate(items):
            region = self.region(item, f"{where}[{j}]")
            if region is not None and region in out:
                self.add(f"{where}[{j}]", f"region {show(region)} is listed twice")
            elif region is not None:
                out.append(region)
        return tuple(out) if len(out) == len(items) else None
