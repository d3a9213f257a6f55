"""How a pool's check is kept in the database's JSON (geodns.store.pool_rows)."""

from __future__ import annotations

from geodns.pools.model import Check, CheckType
from geodns.store.pool_rows import check_from_json, check_to_json

CHECK = Check(CheckType.HTTP, port=8080, path="/health", interval_s=5.0, timeout_s=1.5)


def test_a_check_is_stored_with_the_field_names_older_nodes_read():
    stored = check_to_json(CHECK)
    assert (stored["interval"], stored["timeout"]) == (5.0, 1.5)
    assert "interval_s" not in stored and "timeout_s" not in stored


def test_a_stored_check_reads_back_in_either_spelling():
    old = check_to_json(CHECK)
    new = {k: v for k, v in old.items() if k not in ("interval", "timeout")}
    new.update(interval_s=5.0, timeout_s=1.5)
    assert check_from_json(old) == check_from_json(new) == CHECK
