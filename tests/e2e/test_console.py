"""The console at /ui/ in Debian's chromium, driven by Playwright: sign in, see a pool, a
member reported down through the API shown within the refresh period, a drain from the
console that dig then confirms, and a stale edit refused (If-Match)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    ROOT,
    SERVE_ZONES,
    GeodnsProcess,
    apply_pools,
    clean_environ,
    loopback_args,
    start_geodns,
)
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"  # Debian's: never a downloaded browser
REFRESH_S = 3.0  # console.js REFRESH_MS
POOL = "web.example.test."
POOLS = """
pools:
  - name: web.example.test
    max_answers: 3            # every usable member in every answer: dig shows them all
    members:
      - {address: 192.0.2.61, weight: 100}
      - {address: 192.0.2.62, weight: 100}
      - {address: 192.0.2.63, weight: 50}
"""


class Console:
    def __init__(self, server: GeodnsProcess, tokens: dict[str, str], shots: Path) -> None:
        self.server, self.tokens, self.shots = server, tokens, shots

    def api(self, method: str, path: str, body: Any = None, role: str = "editor") -> Any:
        request = urllib.request.Request(
            self.server.api + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.tokens[role]}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")

    def dig(self) -> set[str]:
        done = subprocess.run(
            [
                "dig",
                f"@{self.server.host}",
                "-p",
                str(self.server.port),
                POOL,
                "A",
                "+short",
                "+tries=1",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert done.returncode == 0, done.stderr
        return set(done.stdout.split())


def geodns_cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "geodns", *args],
        capture_output=True,
        text=True,
        env=clean_environ(),
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    workdir = tmp_path_factory.mktemp("console")
    zones = workdir / "zones"
    shutil.copytree(SERVE_ZONES, zones)
    database = f"sqlite+aiosqlite:///{workdir / 'geodns.db'}"
    (workdir / "pools.yaml").write_text(POOLS)
    apply_pools(database, zones, workdir / "pools.yaml")
    tokens = {
        role: geodns_cli(
            "token", "create", "--role", role, "--name", f"{role}-1", "--database", database
        )
        for role in ("admin", "editor", "prober", "reader")
    }
    server = start_geodns(
        [
            *loopback_args(zones, database),
            "--no-geoip",
        ]
    )
    shots = workdir / "screenshots"
    shots.mkdir()
    yield Console(server, tokens, shots)
    assert server.stop() == 0


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data dir
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
            viewport={"width": 1280, "height": 800},
        )
        yield context
        context.close()


def sign_in(browser: BrowserContext, console: Console, role: str) -> Page:
    """A new tab (its own sessionStorage) signed in with role's token; every URL it asks
    for is kept in page.fetched."""
    page = browser.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.fetched = fetched  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(console.server.api + "/ui/")
    page.fill("#token", console.tokens[role])
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#who-text")).to_have_text(f"{role}-1 ({role})")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def row(page: Page, address: str) -> Any:
    return page.locator(f'tr[data-address="{address}"]')


def assert_only_its_own_origin(page: Page, console: Console) -> None:
    """Nothing from a CDN or anywhere else: the console works offline."""
    fetched = page.fetched  # type: ignore[attr-defined]
    elsewhere = [u for u in fetched if not u.startswith((console.server.api + "/", "data:"))]
    assert fetched and elsewhere == []


def assert_fits_the_width(page: Page) -> None:
    """No sideways scrolling of the page at the current viewport."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"page {width[0]} px wide in a {width[1]} px viewport"


def test_sign_in_see_the_pool_and_a_member_reported_down_within_the_refresh_period(
    browser, console
):
    page = sign_in(browser, console, "editor")
    pool_row = page.locator(f'tr[data-pool="{POOL}"]')
    expect(pool_row).to_contain_text("weighted")
    expect(pool_row.locator('[data-count="up"]')).to_contain_text("3")
    expect(page.locator("tr[data-node] >> text=current")).to_be_visible()
    zone = page.locator("tr", has=page.locator("td", has_text="2026112201"))  # the serial
    expect(zone).to_contain_text("example.test.")
    expect(zone).to_contain_text("\u2714 loaded")
    assert_fits_the_width(page)  # 1280x800
    page.screenshot(path=str(console.shots / "overview.png"), full_page=True)
    pool_row.locator("a").click()
    expect(row(page, "192.0.2.62").locator("[data-state]")).to_have_attribute("data-state", "up")
    expect(page.get_by_role("button", name="Drain")).to_have_count(3)  # an editor may change
    assert_fits_the_width(page)
    page.evaluate("window.loadedOnce = true")  # gone if the page were loaded again

    console.api(
        "POST",
        "/api/v1/health/reports",
        {
            "reports": [
                {
                    "address": "192.0.2.62",
                    "status": "down",
                    "reason": "http 503 on /health",
                    "ttl": 300,
                }
            ]
        },
        role="prober",
    )
    reported = time.monotonic()
    state = row(page, "192.0.2.62").locator("[data-state]")
    expect(state).to_have_attribute("data-state", "down", timeout=(REFRESH_S + 2) * 1000)
    assert time.monotonic() - reported < REFRESH_S + 1.5  # one refresh, plus a request
    assert page.evaluate("window.loadedOnce") is True  # refreshed in place, not reloaded
    expect(state).to_have_text("\u2716 down")  # an icon and a word, not a colour alone
    expect(row(page, "192.0.2.61").locator("[data-state]")).to_have_text("\u2714 up")
    expect(row(page, "192.0.2.62")).to_contain_text("http 503 on /health")  # the reason, in words
    expect(row(page, "192.0.2.62")).to_contain_text("prober-1: down")  # which probe says so
    page.screenshot(path=str(console.shots / "pool.png"), full_page=True)
    console.api(
        "POST",
        "/api/v1/health/reports",
        {"reports": [{"address": "192.0.2.62", "status": "up", "ttl": 300}]},
        role="prober",
    )
    expect(state).to_have_attribute("data-state", "up", timeout=(REFRESH_S + 2) * 1000)
    assert page.errors == []  # type: ignore[attr-defined]
    assert_only_its_own_origin(page, console)
    assert sorted(p.name for p in console.shots.iterdir()) == ["overview.png", "pool.png"]
    page.close()


def test_a_drain_from_the_console_takes_the_member_out_of_dig_answers(browser, console):
    assert console.dig() == {"192.0.2.61", "192.0.2.62", "192.0.2.63"}
    page = sign_in(browser, console, "editor")
    page.goto(console.server.api + f"/ui/#/pools/{POOL}")
    row(page, "192.0.2.63").locator('button[data-action="drain"]').click()
    expect(row(page, "192.0.2.63").locator("[data-state]")).to_have_attribute(
        "data-state", "drained"
    )
    expect(row(page, "192.0.2.63").locator("[data-state]")).to_contain_text("drained")
    expect(page.locator("#status")).to_contain_text("Drained 192.0.2.63")
    for _ in range(10):  # the API answered after the snapshot was rebuilt: at once
        assert console.dig() == {"192.0.2.61", "192.0.2.62"}
    member = console.api("GET", f"/api/v1/pools/{POOL}/members/192.0.2.63", role="reader")
    assert (member["enabled"], member["weight"]) == (False, 50)  # the weight is kept
    audit = console.api(
        "GET", f"/api/v1/audit?target=pools/{POOL}/members/192.0.2.63", role="admin"
    )
    assert audit["entries"][0]["actor"] == "editor-1"

    row(page, "192.0.2.63").locator('button[data-action="undrain"]').click()
    expect(row(page, "192.0.2.63").locator("[data-state]")).to_have_attribute("data-state", "up")
    assert console.dig() == {"192.0.2.61", "192.0.2.62", "192.0.2.63"}
    page.close()


def test_a_stale_weight_edit_is_refused_and_nothing_is_overwritten(browser, console):
    page = sign_in(browser, console, "editor")
    page.goto(console.server.api + f"/ui/#/pools/{POOL}")
    row(page, "192.0.2.61").locator('button[data-action="weight"]').click()
    expect(page.locator("#weight-dialog")).to_be_visible()
    page.fill("#weight-value", "7")
    # meanwhile another editor changes the pool: the dialog's version is stale now
    console.api("PATCH", f"/api/v1/pools/{POOL}/members/192.0.2.62", {"weight": 80})
    page.click("#weight-save")
    expect(page.locator("#weight-error")).to_contain_text(
        "not saved: someone changed this pool after you loaded it"
    )
    page.screenshot(path=str(console.shots / "stale-edit.png"))
    member = console.api("GET", f"/api/v1/pools/{POOL}/members/192.0.2.61", role="reader")
    assert member["weight"] == 100
    page.click("#weight-cancel")
    # opened again, on the version now shown, the same edit goes through
    expect(row(page, "192.0.2.62")).to_contain_text("80")
    row(page, "192.0.2.61").locator('button[data-action="weight"]').click()
    page.fill("#weight-value", "7")
    page.click("#weight-save")
    expect(page.locator("#weight-dialog")).to_be_hidden()
    assert (
        console.api("GET", f"/api/v1/pools/{POOL}/members/192.0.2.61", role="reader")["weight"] == 7
    )
    page.close()


def test_a_reader_may_look_explain_and_use_a_phone_width_screen(browser, console):
    page = sign_in(browser, console, "reader")
    expect(page.locator('#nav a[data-view="audit"]')).to_be_hidden()  # admins only
    page.goto(console.server.api + f"/ui/#/pools/{POOL}")
    expect(row(page, "192.0.2.61")).to_be_visible()
    expect(page.locator("button[data-action]")).to_have_count(0)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row(page, "192.0.2.61").locator('td[data-label="State"]')).to_be_visible()
    assert_fits_the_width(page)
    page.screenshot(path=str(console.shots / "pool-phone.png"))
    page.goto(console.server.api + "/ui/#/")
    expect(page.locator(f'tr[data-pool="{POOL}"]')).to_be_visible()
    assert_fits_the_width(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(console.server.api + "/ui/#/explain")
    page.fill("#ex-name", POOL)
    page.fill("#ex-client", "198.51.100.7")
    page.click("#explain-form button[type=submit]")
    answer = page.locator("#explain-answer [data-answer]")
    expect(answer).to_be_visible()
    shown = answer.get_attribute("data-answer") or ""
    assert sorted(shown.split()) == ["192.0.2.61", "192.0.2.62", "192.0.2.63"]  # weighted order
    expect(page.locator("#explain-answer")).to_contain_text("no ECS in the query")
    page.screenshot(path=str(console.shots / "explain.png"), full_page=True)
    page.fill("#ex-client", "198.51.100.0/24")  # an ECS prefix instead of an address
    page.click("#explain-form button[type=submit]")
    expect(page.locator("#explain-answer dd").first).to_have_text("198.51.100.0/24")
    expect(page.locator("#explain-answer")).not_to_contain_text("no ECS in the query")
    assert_only_its_own_origin(page, console)
    page.close()


def test_an_editor_sees_neither_the_audit_trail_nor_the_tokens(browser, console):
    page = sign_in(browser, console, "editor")
    expect(page.locator('#nav a[data-view="overview"]')).to_be_visible()
    expect(page.locator('#nav a[data-view="audit"]')).to_be_hidden()
    expect(page.locator('#nav a[data-view="tokens"]')).to_be_hidden()
    page.goto(console.server.api + "/ui/#/tokens")  # asked for by hand: the overview instead
    expect(page.locator(f'tr[data-pool="{POOL}"]')).to_be_visible()
    page.close()


def test_an_admin_sees_the_audit_trail_newest_first_filtered_by_pool_and_token(browser, console):
    other = "second.example.test."
    # entries each filter must leave out: editor-1 on another pool, admin-1 on this one
    console.api("POST", "/api/v1/pools", {"name": other, "members": [{"address": "192.0.2.70"}]})
    for address in ("192.0.2.61", "192.0.2.62"):  # editor-1 on this pool, .62 the newest
        console.api("PATCH", f"/api/v1/pools/{POOL}/members/{address}", {"weight": 100})
    console.api("PATCH", f"/api/v1/pools/{POOL}/members/192.0.2.62", {"weight": 90}, role="admin")
    page = sign_in(browser, console, "admin")
    page.goto(console.server.api + f"/ui/#/audit?pool={POOL}&token=editor-1")
    entries = page.locator("tr[data-audit]")
    expect(entries.first).to_contain_text("editor-1")
    texts = entries.all_inner_texts()
    assert len(texts) >= 2 and f"pools/{POOL}/members/192.0.2.62" in texts[0]
    assert any(f"pools/{POOL}/members/192.0.2.61" in text for text in texts[1:])
    for text in texts:
        assert "editor-1" in text and f"pools/{POOL}" in text and other not in text
    ids = [int(i or 0) for i in entries.evaluate_all("rows => rows.map(r => r.dataset.audit)")]
    assert ids == sorted(ids, reverse=True)  # newest first
    page.fill("#au-pool", other)  # the form filters too
    page.click("#view form.inline button[type=submit]")
    expect(entries.first).to_contain_text(f"pools/{other}")
    assert len(entries.all_inner_texts()) == 1
    page.fill("#au-pool", POOL)
    page.fill("#au-token", "admin-1")
    page.click("#view form.inline button[type=submit]")
    expect(entries.first).to_contain_text("admin-1")
    assert len(entries.all_inner_texts()) == 1
    page.goto(console.server.api + "/ui/#/tokens")
    expect(page.locator("td", has_text="reader-1")).to_be_visible()  # an admin's Tokens page
    page.close()
