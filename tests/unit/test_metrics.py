"""What /metrics says, read from what the process serves at scrape time (geodns.metrics)."""

from __future__ import annotations

from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from geodns.metrics import Metrics, ServingSources
from geodns.snapshot import empty_snapshot


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_before_the_store_and_listeners_open_only_the_snapshot_is_described() -> None:
    found = samples(Metrics(ServingSources(empty_snapshot, lambda: None, lambda: None)))
    assert found[("geodns_snapshot_generation", ())] == 0
    assert found[("geodns_pools_served", ())] == 0
    assert not any(name.startswith(("geodns_health_", "geodns_queries")) for name, _ in found)


def test_the_transitions_the_store_counted_are_counters_by_new_state() -> None:
    stored = Counter({"down": 2, "up": 1})
    found = samples(Metrics(ServingSources(empty_snapshot, lambda: stored, lambda: None)))
    assert found[("geodns_health_transitions_total", (("to", "down"),))] == 2
    assert found[("geodns_health_transitions_total", (("to", "up"),))] == 1
