"""What makes `geodns serve` a worker of the main process (geodns.workers)."""

from __future__ import annotations

from pathlib import Path

from geodns.settings import Settings, load_settings
from geodns.workers import worker_environment


def test_a_worker_gets_the_bound_ports_and_the_settings_by_their_current_names() -> None:
    settings = Settings(
        zones=Path("/srv/zones"),
        database_url="sqlite+aiosqlite:///x.db",
        tcp_idle_timeout_s=3.0,
        poll_interval_s=0.5,
        geoip_db="/srv/city.mmdb",
    )
    base = {"PATH": "/usr/bin", "GEODNS_API": "0.0.0.0:8053", "GEODNS_POLL_INTERVAL": "9"}
    env = worker_environment(settings, [("127.0.0.1", 5353), ("::1", 5353)], base)
    assert env["PATH"] == "/usr/bin"
    assert "GEODNS_POLL_INTERVAL" not in env  # the operator's own GEODNS_* never leak in
    assert env["GEODNS_DNS"] == "127.0.0.1:5353,[::1]:5353"
    assert (env["GEODNS_API"], env["GEODNS_WORKER"], env["GEODNS_WORKERS"]) == ("off", "true", "1")
    assert env["GEODNS_GEOIP_DB"] == "/srv/city.mmdb"
    worker = load_settings({}, env)
    assert worker.deprecations == ()  # a worker is started with no deprecated name
    assert (worker.tcp_idle_timeout_s, worker.poll_interval_s) == (3.0, 0.5)
    assert (worker.zones, worker.database_url, worker.api) == (
        settings.zones,
        settings.database_url,
        None,
    )
