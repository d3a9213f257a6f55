"""The module map of STYLE.md as a test: the data plane never imports the control plane."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "geodns"
DATA_PLANE = (
    "geodns.dns",
    "geodns.answer",
    "geodns.dnssec",
    "geodns.geo",
    "geodns.pools",
    "geodns.snapshot",
    "geodns.redirect",
)
CONTROL_PLANE = (
    "geodns.store",
    "geodns.api",
    "geodns.health",
    "geodns.app",
    "geodns.publisher",
    "geodns.cli",
    "aiohttp",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiosqlite",
)
ASYNCIO_ALLOWED = {"geodns.answer.server", "geodns.redirect.server"}
# dns/ holds the RFC building blocks: it imports nothing of geodns above itself
RFC_BLOCKS_MAY_IMPORT = ("geodns.dns", "geodns.errors")
# The control plane's package map: each package -> what it must never import. The store is
# reached through Protocols (health's policy, the publisher's ChangeSource), never the
# other way round; only geodns.app composes them.
DRIVERS = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite")
COMPOSITION = ("geodns.app", "geodns.cli", "geodns.__main__")
CONTROL_PLANE_MAP = {
    "geodns.store": (
        "geodns.health",
        "geodns.api",
        "geodns.publisher",
        "geodns.metrics",
        "geodns.workers",
        "aiohttp",
        *COMPOSITION,
    ),
    "geodns.health": ("geodns.api", "geodns.publisher", *DRIVERS, *COMPOSITION),
    "geodns.api": (*DRIVERS, *COMPOSITION),
    "geodns.publisher": ("geodns.api", "aiohttp", *DRIVERS, *COMPOSITION),
    "geodns.metrics": ("geodns.api", "geodns.store", "aiohttp", *DRIVERS, *COMPOSITION),
    "geodns.workers": ("geodns.api", "geodns.store", "aiohttp", *DRIVERS, *COMPOSITION),
}
# pure policy: no I/O, no event loop, no store (probes, scheduler and checker do the I/O)
PURE_HEALTH = (
    "geodns.health.state",
    "geodns.health.votes",
    "geodns.health.damping",
    "geodns.health.decider",
    "geodns.health.adaptive",
)
IMPURE = ("asyncio", "aiohttp", "socket", "time", "random", "geodns.store", *DRIVERS)
BANNED_NAMES = {"utils", "helpers", "common", "manager"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, *, runtime_only: bool = False) -> set[str]:
    """Every module path imports; runtime_only leaves out `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def starts(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(
    "path", [p for p in MODULES if starts(module_name(p), DATA_PLANE)], ids=lambda p: module_name(p)
)
def test_data_plane_does_not_import_the_control_plane(path):
    wrong = sorted(i for i in imports_of(path) if starts(i, CONTROL_PLANE))
    assert wrong == []


@pytest.mark.parametrize(
    "path", [p for p in MODULES if starts(module_name(p), DATA_PLANE)], ids=lambda p: module_name(p)
)
def test_only_the_dns_server_module_imports_asyncio_in_the_data_plane(path):
    if module_name(path) in ASYNCIO_ALLOWED:
        return
    assert "asyncio" not in imports_of(path)


@pytest.mark.parametrize(
    ("path", "banned"),
    [
        (p, banned)
        for package, banned in CONTROL_PLANE_MAP.items()
        for p in MODULES
        if starts(module_name(p), (package,))
    ],
    ids=lambda value: module_name(value) if isinstance(value, Path) else "",
)
def test_control_plane_packages_import_only_down_the_map(path, banned):
    wrong = sorted(i for i in imports_of(path) if starts(i, banned))
    assert wrong == []


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p) in PURE_HEALTH], ids=lambda p: module_name(p)
)
def test_health_policy_modules_stay_pure(path):
    assert sorted(i for i in imports_of(path) if starts(i, IMPURE)) == []


def test_no_grab_bag_module_names():
    assert sorted(p.stem for p in MODULES if p.stem in BANNED_NAMES) == []


def test_no_import_cycles_between_geodns_modules():
    # imports inside functions count too: stricter than Python needs, and simpler to read
    graph = {
        module_name(p): {i for i in imports_of(p, runtime_only=True) if i.startswith("geodns")}
        for p in MODULES
    }
    visiting: set[str] = set()
    done: set[str] = set()
    cycles: list[str] = []

    def visit(name: str, trail: list[str]) -> None:
        if name in done or name not in graph:
            return
        if name in visiting:
            cycles.append(" -> ".join(trail[trail.index(name) :] + [name]))
            return
        visiting.add(name)
        for target in sorted(graph[name]):
            visit(target, trail + [name])
        visiting.discard(name)
        done.add(name)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []


@pytest.mark.parametrize(
    "path", [p for p in MODULES if starts(module_name(p), ("geodns.dns",))], ids=module_name
)
def test_the_rfc_building_blocks_import_nothing_above_themselves(path):
    wrong = sorted(
        i
        for i in imports_of(path)
        if i.startswith("geodns") and not starts(i, RFC_BLOCKS_MAY_IMPORT)
    )
    assert wrong == []


def test_the_answer_path_lives_in_its_own_package():
    # issue 11: dns/ keeps the RFC nouns; everything that answers a query sits above it
    moved = {"authority", "encode", "packet", "fastpath", "query", "querylog", "server"}
    assert sorted(p.stem for p in (PACKAGE / "dns").glob("*.py") if p.stem in moved) == []
