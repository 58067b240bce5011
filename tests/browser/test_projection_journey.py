"""/projection in Chromium on a fresh demo server (its first start loads six ended quarters): the
fan chart, the band banner, the per-person table and the back-test sentence; a team chosen by
URL; the page as of a past day and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from dashboard_server import Server, screenshot
from playwright.sync_api import expect
from test_journeys import TIMEOUT, no_exception, query, ready

from clari_data.storage.warehouse import Warehouse

pytestmark = pytest.mark.browser
HISTORY = 120_000  # a fresh demo server loads its history first (at most 60 s on 2 cores)


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("projection")
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


def test_the_projection_page_as_a_sales_leader_reads_it(server, context):
    page = context.new_page()
    page.goto(f"{server.url}/projection")
    ready(page)
    expect(page.get_by_role("heading", name="Projection", level=1)).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stMetricLabel"]').filter(has_text="P50 (projection)")).to_be_visible()
    expect(page.get_by_text("the 80% band held").first).to_be_visible(timeout=TIMEOUT)
    # Six ended quarters: the four with two or more before them are back-tested.
    expect(page.get_by_text("Over 4 past quarters").first).to_be_visible()
    banner = page.locator('[data-testid="stAlert"]').filter(has_text="own P10-P90 band")
    expect(banner).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Download CSV").first).to_be_visible()
    assert page.locator('[data-testid="stDataFrame"]').count() == 2  # the people and the back-test
    no_exception(page)
    screenshot(page, "projection")

    day = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    page.goto(f"{server.url}/projection?as_of={day}")
    ready(page)
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="As of ")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_text("the 80% band held").first).to_be_visible(timeout=TIMEOUT)
    assert query(page) == {"as_of": [day]}
    no_exception(page)
    screenshot(page, "projection-as-of")

    page.get_by_role("link", name="Back to the latest data").click()
    page.wait_for_url(lambda u: "as_of" not in u, timeout=TIMEOUT)
    ready(page)
    assert urlsplit(page.url).path == "/projection"
    assert page.locator('[data-testid="stAlert"]').filter(has_text="As of ").count() == 0
    no_exception(page)
