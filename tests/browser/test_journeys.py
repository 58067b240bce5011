"""The user journeys in Chromium against a real `streamlit run app.py` on demo data."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from dashboard_server import Server, screenshot
from playwright.sync_api import Page, expect

from clari_data.ingest.simulator import SyntheticOrg
from clari_data.shared.periods import FiscalCalendar, shift_period

pytestmark = pytest.mark.browser
TIMEOUT = 45_000

PAGES = [("/", "Overview", True), ("/accuracy", "Forecast accuracy", True), ("/coverage", "Pipeline coverage", True),
         ("/reps", "Rep performance", True), ("/changes", "Recent changes", False), ("/data", "Data & refresh", False)]


def ready(page: Page) -> None:
    """The app is connected and no script run is in progress."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=TIMEOUT)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=TIMEOUT)


def open_page(page: Page, url: str, title: str) -> None:
    page.goto(url)
    ready(page)
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=TIMEOUT)
    # The first data may still be loading after a fresh start: the page updates by itself.
    expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Data as of").first).to_be_visible(
        timeout=TIMEOUT)
    # A refresh still running (the startup one loads several exports) reruns the page when it ends:
    # wait for that, or what is read next may be taken from a page in the middle of its rerun.
    expect(page.locator('[data-testid="stAlert"]').filter(has_text="Refreshing")).to_have_count(0, timeout=TIMEOUT)
    ready(page)


def no_exception(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def selectbox(page: Page, label: str):
    return page.locator('[data-testid="stSelectbox"]').filter(has_text=label)


def choose(page: Page, label: str, option: str) -> None:
    selectbox(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()
    ready(page)


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def expect_query(page: Page, expected: dict[str, list[str]]) -> None:
    """The URL's filters become `expected`: the run a click starts writes them a moment after the
    click, so wait for the address itself rather than read it at one instant."""
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query) == expected, timeout=TIMEOUT)


def metrics(page: Page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def demo_org() -> SyntheticOrg:
    return SyntheticOrg(seed=7, users=60)  # what the app's demo simulator serves (config defaults)


def a_manager() -> dict:
    return next(u for u in demo_org().users if u["scopeId"].endswith("::MGR") and u["parentHierarchyId"]
                and u["hierarchyName"].startswith("Manager"))


def label(period: str) -> str:
    """What the Period filter shows for a period id: Clari's label and year ("2026_Q3" -> "Q3 2026")."""
    year, quarter = period.split("_")
    return f"{quarter} {year}"


def previous_period() -> str:
    return shift_period(FiscalCalendar().quarter_of(datetime.now(UTC).date()), -1)


@pytest.mark.slow
def test_a_shared_deep_link_works_as_the_first_request_after_start(tmp_path, context):
    server = Server(tmp_path)  # fresh: this link is the very first page request it serves
    try:
        manager = a_manager()
        page = context.new_page()
        page.goto(f"{server.url}/coverage?period={previous_period()}&team={manager['userId']}")
        ready(page)
        expect(page.get_by_role("heading", name="Pipeline coverage", level=1)).to_be_visible(timeout=TIMEOUT)
        expect(selectbox(page, "Period").locator("input")).to_have_value(label(previous_period()), timeout=TIMEOUT)
        expect(selectbox(page, "Team").locator("input")).to_have_value(manager["name"], timeout=TIMEOUT)
        ready(page)
        assert urlsplit(page.url).path == "/coverage"
        assert query(page) == {"period": [previous_period()], "team": [manager["userId"]]}
        no_exception(page)
        screenshot(page, "deep-link-first-request")
    finally:
        server.stop()


@pytest.mark.parametrize("path, title, has_charts", PAGES)
def test_every_page_opens_with_its_charts_drawn(server, context, path, title, has_charts):
    page = context.new_page()
    open_page(page, server.url + path, title)
    if has_charts:
        expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
    no_exception(page)
    screenshot(page, f"page-{title.lower().replace(' & ', '-').replace(' ', '-')}")


def test_filters_live_in_the_url_and_reproduce_the_view(server, browser, context):
    page = context.new_page()
    open_page(page, server.url + "/", "Overview")
    manager = a_manager()
    choose(page, "Period", label(previous_period()))
    expect_query(page, {"period": [previous_period()]})
    choose(page, "Team", manager["name"])
    expect_query(page, {"period": [previous_period()], "team": [manager["userId"]]})
    rep = next(u for u in demo_org().users if u["parentHierarchyId"] == manager["hierarchyId"])
    rep_name = rep["name"]
    page.locator('[data-testid="stMultiSelect"]').filter(has_text="Reps").click()
    page.get_by_role("option", name=rep_name, exact=True).click()
    page.keyboard.press("Escape")
    shared = {"period": [previous_period()], "team": [manager["userId"]], "rep": [rep["userId"]]}
    expect_query(page, shared)
    ready(page)
    # A run may still be drawing the headline (a widget's first value can start another run): wait
    # for all eight numbers rather than read the page at one instant.
    expect(page.locator('[data-testid="stMetricValue"]')).to_have_count(8, timeout=TIMEOUT)
    ready(page)
    numbers = metrics(page)
    screenshot(page, "filters-chosen")

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})  # a new, private browser
    try:
        other = fresh.new_page()
        open_page(other, page.url, "Overview")
        expect(selectbox(other, "Period").locator("input")).to_have_value(label(previous_period()))
        expect(selectbox(other, "Team").locator("input")).to_have_value(manager["name"])
        expect(other.locator('[data-testid="stMultiSelect"]').filter(has_text="Reps")).to_contain_text(rep_name)
        expect(other.locator('[data-testid="stMetricValue"]')).to_have_text(numbers, timeout=TIMEOUT)
        other.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Pipeline coverage").click()
        ready(other)
        expect(other.get_by_role("heading", name="Pipeline coverage", level=1)).to_be_visible(timeout=TIMEOUT)
        expect_query(other, shared)
        assert urlsplit(other.url).path == "/coverage"
        expect(selectbox(other, "Team").locator("input")).to_have_value(manager["name"])
        screenshot(other, "filters-reproduced-on-coverage")
    finally:
        fresh.close()


def test_a_link_with_unknown_values_shows_the_notice_and_the_defaults(server, context):
    page = context.new_page()
    open_page(page, f"{server.url}/reps?period=2099_Q1&rep=ghost", "Rep performance")
    alerts = page.locator('[data-testid="stAlert"]')
    expect(alerts.filter(has_text="The link's period")).to_be_visible()
    expect(alerts.filter(has_text="ghost")).to_be_visible()
    current = FiscalCalendar().quarter_of(demo_org().now.date())
    expect(selectbox(page, "Period").locator("input")).to_have_value(label(current))
    assert "period" not in query(page) and "rep" not in query(page)
    no_exception(page)
    screenshot(page, "bad-link-notice")


@pytest.mark.slow
def test_refresh_now_shows_progress_and_every_window_moves_to_the_new_data(tmp_path, browser):
    # Slow simulated jobs, so the other window's poll catches the refresh while it runs.
    server = Server(tmp_path, "[schedule]\nmanual_cooldown_seconds = 60\n", job_seconds=2.5)
    first, second = browser.new_context(), browser.new_context()
    try:
        a, b = first.new_page(), second.new_page()
        for page in (a, b):
            open_page(page, server.url + "/data", "Data & refresh")
            # The refresh that loaded the server's data (run 1) is in the history of both windows.
            expect(page.get_by_role("button", name="Refresh now")).to_be_enabled(timeout=TIMEOUT)
            expect(page.locator(".st-key-csv-run-history-csv")).to_have_text("Download CSV (1 rows)", timeout=TIMEOUT)
            ready(page)
        runs_before = 1
        a.get_by_role("button", name="Refresh now").click()
        # The clicking window shows the stage at once; the other sees it by itself within its poll.
        expect(a.locator('[data-testid="stProgress"]')).to_be_visible(timeout=TIMEOUT)
        screenshot(a, "refresh-in-progress")
        expect(b.locator('[data-testid="stAlert"]').filter(has_text="Refreshing")).to_be_visible(timeout=TIMEOUT)
        for page in (a, b):
            expect(page.locator(".st-key-csv-run-history-csv")).to_have_text(
                f"Download CSV ({runs_before + 1} rows)", timeout=TIMEOUT)
            expect(page.get_by_text(re.compile("Last refresh .*exports refreshed"))).to_be_visible(timeout=TIMEOUT)
        expect(a.get_by_role("button", name="Refresh now")).to_be_disabled()  # cooling down
        screenshot(b, "refresh-done-other-window")
    finally:
        first.close()
        second.close()
        server.stop()


def test_a_csv_download_arrives_with_the_rows_the_table_shows(server, context):
    page = context.new_page()
    open_page(page, server.url + "/reps", "Rep performance")
    button = page.get_by_role("button", name=re.compile(r"Download CSV \(\d+ rows\)")).first
    shown = int(re.search(r"\((\d+) rows\)", button.inner_text()).group(1))
    with page.expect_download() as download:
        button.click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(rows) == shown == len(demo_org().users)
    assert {"user_name", "attainment_pct", "status"} <= set(rows[0])
    assert {r["user_name"] for r in rows} == {u["name"] for u in demo_org().users}


def test_dark_theme_renders(server, browser):
    dark = browser.new_context(color_scheme="dark", viewport={"width": 1400, "height": 1000})
    try:
        page = dark.new_page()
        open_page(page, server.url + "/coverage", "Pipeline coverage")
        expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
        background = page.evaluate(
            "getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
        assert background == "rgb(11, 18, 32)"  # [theme.dark] backgroundColor
        no_exception(page)
        screenshot(page, "dark-theme-coverage")
    finally:
        dark.close()
