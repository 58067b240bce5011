"""A 2,000-person org in Chromium: from the top to a rep one level at a time (a shortcut, then the
search), back up through the breadcrumb, each level's link reproducing it in a new browser."""

from __future__ import annotations

import html
import re

import pytest
from dashboard_server import Server, screenshot
from playwright.sync_api import Page, expect
from test_journeys import TIMEOUT, no_exception, open_page, query, ready

from clari_data.read.charts import MAX_PEOPLE
from ui.page import SHORTCUTS

pytestmark = pytest.mark.browser
TITLE = "Rep performance"


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("big"), "users = 2000\n")  # under [demo]: a 2,000-person org
    yield srv
    srv.stop()


def crumbs(page: Page):
    return page.locator('[class*="st-key-reps-crumbs"]')


def here(page: Page) -> str:
    """The breadcrumb's last step: the level shown (bold)."""
    return crumbs(page).locator("strong").inner_text()


def shows(page: Page, level: str, exact: bool = True) -> None:
    """Wait for the breadcrumb to end at `level`, alone (a rerun's stale step gone)."""
    current = crumbs(page).locator("strong")
    wanted = re.compile(f"^{re.escape(level)}$") if exact else level
    expect(current.filter(has_text=wanted)).to_be_visible(timeout=TIMEOUT)
    expect(current).to_have_count(1, timeout=TIMEOUT)
    ready(page)


def shortcuts(page: Page):
    return page.locator('[class*="st-key-reps-down-"] button')


def chart_names(page: Page, index: int = 0) -> list[str]:
    """The names one of the page's charts draws (bar labels), as Plotly holds them."""
    return page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').nth(index).evaluate(
        "p => p._fullData.flatMap(t => Array.from(t.orientation === 'h' ? t.y : t.x))")


def same_level_in_a_new_browser(browser, url: str, level: str, charts_bound: bool = True) -> None:
    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = fresh.new_page()
        open_page(other, url, TITLE)
        shows(other, level)
        if charts_bound:
            expect(other.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
            assert len(chart_names(other)) <= MAX_PEOPLE
        no_exception(other)
    finally:
        fresh.close()


@pytest.mark.slow
def test_from_the_top_to_a_rep_and_back_with_each_level_in_the_url(big, browser, context):
    page = context.new_page()
    open_page(page, f"{big.url}/reps", TITLE)
    top = here(page)
    assert "CRO" in top and query(page) == {}
    assert 0 < shortcuts(page).count() <= SHORTCUTS
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
    assert 0 < len(chart_names(page)) <= MAX_PEOPLE
    screenshot(page, "hierarchy-top")

    # One level down: an RVP's team.
    rvp = shortcuts(page).first.inner_text()
    shortcuts(page).first.click()
    ready(page)
    shows(page, rvp, exact=False)
    rvp_level, rvp_url = here(page), page.url
    assert set(query(page)) == {"team"}
    expect(crumbs(page).get_by_role("button")).to_have_count(1)  # the way back to the top
    screenshot(page, "hierarchy-rvp")
    same_level_in_a_new_browser(browser, rvp_url, rvp_level)

    # And down again: a first-line manager, whose direct reports are reps.
    manager = shortcuts(page).first.inner_text()
    shortcuts(page).first.click()
    ready(page)
    shows(page, manager, exact=False)
    manager_level, manager_url = here(page), page.url
    assert set(query(page)) == {"team"} and page.url != rvp_url
    assert shortcuts(page).count() == 0  # no teams below a first-line manager
    same_level_in_a_new_browser(browser, manager_url, manager_level)

    # A rep, found by typing their name.
    rep = html.unescape(chart_names(page)[0])  # charts hold names HTML-escaped: Plotly renders a subset of HTML
    search = page.locator('[data-testid="stSelectbox"]').filter(has_text="Find a person")
    search.click()
    page.keyboard.type(rep)
    page.get_by_role("option").filter(has_text=rep).first.click()
    ready(page)
    shows(page, rep, exact=False)
    assert set(query(page)) == {"team", "rep"} and page.url != manager_url
    rep_url = page.url
    expect(crumbs(page).get_by_role("button")).to_have_count(3)  # top, RVP, manager
    screenshot(page, "hierarchy-rep")
    same_level_in_a_new_browser(browser, rep_url, here(page))

    # Back up through the breadcrumb: the RVP, then the top, each the same URL as on the way down.
    crumbs(page).get_by_role("button").nth(1).click()
    ready(page)
    shows(page, rvp_level)
    assert page.url == rvp_url
    crumbs(page).get_by_role("button").first.click()
    ready(page)
    shows(page, top)
    assert query(page) == {}
    no_exception(page)
