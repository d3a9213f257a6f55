"""STYLE.md's error rule as a test: every exception class geodns defines descends from
GeodnsError, so a caller can tell geodns's own refusals from a bug by one except clause."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import geodns
from geodns.dns.wire import BadName, FormError
from geodns.errors import GeodnsError

# geodns.migrations holds alembic's scripts: importing env.py runs a migration
NOT_IMPORTED = ("geodns.migrations",)


def geodns_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(geodns.__path__, "geodns."):
        if info.name.startswith(NOT_IMPORTED) or info.name == "geodns.__main__":
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_geodns_defines_is_a_geodns_error():
    classes = geodns_exception_classes()
    assert len(classes) > 20  # the walk found the package's modules
    assert sorted(name for name, cls in classes.items() if not issubclass(cls, GeodnsError)) == []


def test_wire_errors_are_form_errors_and_there_is_one_bad_name():
    classes = geodns_exception_classes()
    assert issubclass(FormError, GeodnsError)
    assert sorted(name for name in classes if name.endswith(".BadName")) == [
        "geodns.dns.wire.BadName"
    ]
    assert issubclass(BadName, FormError)
