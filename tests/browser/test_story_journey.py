"""Time travel in Chromium: a page opened as of a past day, kept while moving between pages, and
the way back to the latest data; the Overview's deltas and pacing, and the /changes waterfall."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from dashboard_server import Server, screenshot
from playwright.sync_api import Page, expect
from test_journeys import TIMEOUT, no_exception, query, ready

from clari_data.storage.warehouse import Warehouse

pytestmark = pytest.mark.browser
HISTORY = 120_000  # a fresh demo server loads its history first (at most 60 s on 2 cores)


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    """A demo server on an empty warehouse: its first start loads the demo's history, as on a fresh
    clone, and the journeys start once it has."""
    folder = tmp_path_factory.mktemp("story")
    with Warehouse(folder / "w.duckdb"):
        pass  # migrated and empty: the server's startup refresh backfills it
    srv = Server(folder)
    page = browser.new_page()
    try:
        page.goto(f"{srv.url}/data")
        expect(page.get_by_text("Loaded demo history")).to_be_visible(timeout=HISTORY)
    finally:
        page.close()
    yield srv
    srv.stop()


def wait_for_data(page: Page, url: str) -> None:
    page.goto(url)
    ready(page)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="source: demo data").first
           ).to_be_visible(timeout=TIMEOUT)
    ready(page)


def test_a_page_as_of_a_past_day_keeps_it_across_pages_and_links_back_to_the_latest(server, context):
    day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    page = context.new_page()
    page.goto(f"{server.url}/coverage?as_of={day}")
    ready(page)
    banner = page.locator('[data-testid="stAlert"]').filter(has_text="As of ")
    expect(banner).to_be_visible(timeout=TIMEOUT)
    expect(banner).to_contain_text("(simulated)")
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
    assert query(page) == {"as_of": [day]}
    no_exception(page)
    screenshot(page, "as-of-coverage")

    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Rep performance").click()
    ready(page)
    expect(page.get_by_role("heading", name="Rep performance", level=1)).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="As of ")).to_be_visible(timeout=TIMEOUT)
    assert urlsplit(page.url).path == "/reps" and query(page) == {"as_of": [day]}
    share = page.locator('[data-testid="stExpander"]').filter(has_text="Share this view")
    share.click()
    expect(share.locator('[data-testid="stCode"]')).to_contain_text(f"/reps?as_of={day}")
    no_exception(page)
    screenshot(page, "as-of-reps")

    page.get_by_role("link", name="Back to the latest data").click()
    page.wait_for_url(lambda u: "as_of" not in u, timeout=TIMEOUT)
    ready(page)
    expect(page.get_by_role("heading", name="Rep performance", level=1)).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Data as of").first).to_be_visible(
        timeout=TIMEOUT)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="As of ").count() == 0
    assert urlsplit(page.url).path == "/reps" and "as_of" not in query(page)
    no_exception(page)


def test_a_bad_as_of_shows_the_notice_and_the_latest_data(server, context):
    page = context.new_page()
    wait_for_data(page, f"{server.url}/?as_of=2999-01-01")
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="is in the future")).to_be_visible(timeout=TIMEOUT)
    assert "as_of" not in query(page)
    no_exception(page)


def test_the_story_pages_as_a_sales_leader_sees_them(server, context):
    page = context.new_page()
    wait_for_data(page, f"{server.url}/")
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics).to_have_count(8, timeout=TIMEOUT)
    expect(page.locator('[data-testid="stMetricDelta"]').first).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("quarter average at week")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(1)).to_be_visible(timeout=TIMEOUT)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "net_arr" not in text and "TF:" not in text and not re.search(r"\b(None|nan|NaN|NaT)\b", text)
    no_exception(page)
    screenshot(page, "story-overview")

    wait_for_data(page, f"{server.url}/changes?from=quarter")
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
    labels = " ".join(page.locator('[data-testid="stPlotlyChart"]').first.locator("text").all_text_contents())
    assert "Everyone else" in labels and "Start" in labels and "End" in labels
    assert query(page) == {"from": ["quarter"]}
    no_exception(page)
    screenshot(page, "story-changes-waterfall")
