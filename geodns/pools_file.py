"""`geodns pools apply` and `export`: make the store's pools match a YAML file, or print them.

Control plane: reads files and the database. The YAML is read here, each problem located
at its file and line (geodns.pools.validate checks the documents, knowing no YAML).
Plan first, then apply, in one transaction per pool; --dry-run stops after the plan.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from geodns.dns.zonefile import load_zone_dir
from geodns.errors import Problem, ValidationError
from geodns.pools.fields import show
from geodns.pools.model import Pool, to_document
from geodns.pools.plan import plan
from geodns.pools.static_names import REPLACE_STATIC, static_problem
from geodns.pools.validate import check_pool_in_zones, validate_pools_document
from geodns.settings import Settings
from geodns.store.migrate import ensure_schema
from geodns.store.repository import Store

log = logging.getLogger(__name__)


async def apply_file(
    settings: Settings, path: Path, *, dry_run: bool = False, if_new: bool = False
) -> tuple[list[str], bool]:
    """Apply path to the store; returns the plan's lines and whether anything changed.

    if_new: only into a database nothing was ever changed in (generation 0), so that a
    start that seeds the example pools never re-applies them over an operator's changes.
    """
    if if_new:
        generation = await stored_generation(settings)
        if generation != 0:
            return [
                f"{path} not applied: the database has changes already (generation "
                f"{generation}); --if-new seeds a new database only"
            ], False
    notes: list[Problem] = []
    replacing: set[str] = set()
    desired = load_pools_file(path, notes, replacing)
    for note in notes:  # still applied: the old spelling means what it meant
        log.warning("pools file uses a deprecated field where=%s %s", note.where, note.message)
    zones = load_zone_dir(settings.zones).zones
    origins = [zone.origin_text for zone in zones.values()]
    problems: list[Problem] = []
    for index, pool in enumerate(desired):
        for problem in check_pool_in_zones(pool, origins):
            problems.append(Problem(f"{path}: pools[{index}].{problem.where}", problem.message))
    if problems:
        raise ValidationError(f"pools file {path}", problems)
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        current = await store.list_pools()
        changes = plan(current, desired)
        # as the API's create: a new pool over a name with static A/AAAA needs its word
        index_of = {pool.name: index for index, pool in enumerate(desired)}
        for pool in changes.create:
            where = f"{path}: pools[{index_of[pool.name]}].name"
            static = static_problem(zones, pool.name, where)
            if static is not None and pool.name not in replacing:
                problems.append(static)
        if problems:
            raise ValidationError(f"pools file {path}", problems)
        lines = changes.describe() or ["no changes"]
        if dry_run or changes.empty:
            return lines, False
        for pool in changes.create:
            await store.create_pool(pool)
        for update in changes.update:
            await store.replace_pool(update.desired)
        for pool in changes.delete:
            await store.delete_pool(pool.name)
        return lines, True
    finally:
        await store.close()


async def stored_generation(settings: Settings) -> int:
    """The store's change counter (0: nothing was ever changed), migrating a new database."""
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        return await store.generation()
    finally:
        await store.close()


async def export_yaml(settings: Settings) -> str:
    await ensure_schema(settings.database_url)
    store = await Store.open(settings.database_url)
    try:
        pools = await store.list_pools()
    finally:
        await store.close()
    document = {"pools": [to_document(pool) for pool in pools]}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None)


def load_pools_file(
    path: Path, notes: list[Problem] | None = None, replacing: set[str] | None = None
) -> list[Pool]:
    """A YAML file with a top-level `pools:` list -> pools; ValidationError with path:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(str(path), f"cannot read: {exc}")
        raise ValidationError(f"pools file {path}", [problem]) from exc
    return parse_pools_text(text, str(path), notes, replacing)


def parse_pools_text(
    text: str,
    source: str,
    notes: list[Problem] | None = None,
    replacing: set[str] | None = None,
) -> list[Pool]:
    """Pools file text -> pools; where is "source:line: field path" for each problem.

    notes, when given, receives each deprecated spelling used, located the same way;
    replacing receives the names of the pools that say `replace_static: true` (a word
    about applying the file, never stored: the API's create takes it the same way).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ValidationError(
            f"pools file {source}", [Problem(where, f"YAML syntax error: {exc.problem}{column}")]
        ) from exc
    except yaml.YAMLError as exc:
        raise ValidationError(
            f"pools file {source}", [Problem(source, f"YAML error: {exc}")]
        ) from exc
    noted: list[Problem] = []
    doc, flagged, found = _take_replace_static(doc)
    pools, invalid = validate_pools_document(doc, noted)
    if notes is not None:
        notes.extend(_locate(p, node, source) for p in noted)
    problems = _duplicate_keys(node, source) + found + invalid
    if problems:
        located = [_locate(p, node, source) for p in problems]
        raise ValidationError(f"pools file {source}", located)
    if replacing is not None:
        replacing.update(pools[index].name for index in flagged)
    return pools


def _take_replace_static(doc: Any) -> tuple[Any, list[int], list[Problem]]:
    """doc without the pools' replace_static flags, the indexes of the pools whose flag is
    true, and a problem for each flag that is not true or false."""
    if not isinstance(doc, dict) or not isinstance(doc.get("pools"), list):
        return doc, [], []
    flagged: list[int] = []
    problems: list[Problem] = []
    pools: list[Any] = []
    for index, entry in enumerate(doc["pools"]):
        if isinstance(entry, dict) and REPLACE_STATIC in entry:
            value = entry[REPLACE_STATIC]
            entry = {k: v for k, v in entry.items() if k != REPLACE_STATIC}
            if value is True:
                flagged.append(index)
            elif value is not False:
                where = f"pools[{index}].{REPLACE_STATIC}"
                problems.append(Problem(where, f"must be true or false, got {value!r}"))
        pools.append(entry)
    return {**doc, "pools": pools}, flagged, problems


_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _locate(problem: Problem, root: yaml.Node | None, source: str) -> Problem:
    """Prefix a field-path problem with source:line of the deepest node the path reaches."""
    if problem.where.startswith(source):
        return problem
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for key, index in _STEP.findall(problem.where):
        if isinstance(node, yaml.MappingNode) and key:
            found = [(k, v) for k, v in node.value if k.value == key]
            if not found:
                break
            node, line = found[-1][1], found[-1][0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    where = f"{source}:{line}" if line is not None else source
    return Problem(f"{where}: {problem.where}", problem.message)


def _duplicate_keys(node: yaml.Node | None, source: str) -> list[Problem]:
    """YAML silently keeps the last of two equal keys; report them instead."""
    problems: list[Problem] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in current.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.value in seen:
                    problems.append(
                        Problem(
                            f"{source}:{line}",
                            f"duplicate key {show(key.value)} "
                            f"(first on line {seen[key.value]}): keep one",
                        )
                    )
                elif isinstance(key, yaml.ScalarNode):
                    seen[key.value] = line
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return problems
