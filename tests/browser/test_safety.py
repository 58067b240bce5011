"""In a real browser: names from Clari that look like HTML, Markdown or script show as text and
run nothing, and in tenant mode the API key appears in no page or URL."""

from __future__ import annotations

import pytest
from builders import HOSTILE_FIELD, HOSTILE_NAMES, hostile_warehouse
from dashboard_server import Server, screenshot
from playwright.sync_api import expect
from support import TEST_KEY
from test_journeys import PAGES, TIMEOUT, no_exception, open_page

from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg

pytestmark = pytest.mark.browser


def test_hostile_names_render_as_text_and_run_nothing(tmp_path, context):
    hostile_warehouse(tmp_path, "w.duckdb")  # the server's warehouse, so no demo refresh replaces it
    server = Server(tmp_path, "[alerts]\ncoverage_min = 5\nchange_pct = 1\nchange_min_amount = 1\n")
    dialogs: list[str] = []
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        labels = {}
        for path, title in (("/coverage", "Pipeline coverage"), ("/changes", "Recent changes"),
                            ("/", "Overview")):
            open_page(page, server.url + path, title)
            no_exception(page)
            banners = page.locator('[data-testid="stAlert"]')
            for name in HOSTILE_NAMES.values():
                expect(banners.filter(has_text=name).first).to_be_visible(timeout=TIMEOUT)  # the characters, as text
            assert page.locator("img[src=x]").count() == 0
            assert page.locator('[data-testid="stMarkdownContainer"] strong').filter(has_text="bold").count() == 0
            assert page.locator('a[href^="http://evil"]').count() == 0
            expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=TIMEOUT)
            labels[path] = " ".join(page.locator('[data-testid="stPlotlyChart"] text').all_text_contents())
            page.locator('[data-testid="stPlotlyChart"] .main-svg').first.hover()  # hover labels render too
            screenshot(page, f"hostile-names{path.replace('/', '-') if path != '/' else '-overview'}")
        # Plotly shows the names as they are instead of parsing them.
        assert "<script>alert('x')</script>" in labels["/coverage"]
        assert HOSTILE_FIELD in labels["/changes"]
        assert dialogs == []  # no alert() ever ran
    finally:
        server.stop()


@pytest.mark.slow
def test_in_tenant_mode_the_key_is_in_no_page_and_no_url(tmp_path, context):
    with SimulatorServer(SyntheticOrg(seed=7, users=60), api_keys=(TEST_KEY,), job_seconds=0.1).start() as sim:
        server = Server(tmp_path, f'[clari]\nbase_url = "{sim.base_url}"\npoll_interval_seconds = 0.05\n',
                        env={"CLARI_API_KEY": TEST_KEY})
        try:
            page = context.new_page()
            urls: list[str] = []
            page.on("request", lambda r: urls.append(r.url))
            for path, title, _ in PAGES:
                open_page(page, server.url + path, title)
                no_exception(page)
                assert TEST_KEY not in page.content()
                expect(page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Clari tenant at")
                       .first).to_be_visible()
            open_page(page, server.url + "/data", "Data & refresh")
            expect(page.locator('[data-testid="stCode"]').filter(has_text='"api_key": "(set)"')).to_be_visible()
            assert not [u for u in urls if TEST_KEY in u]
            assert TEST_KEY not in server.log_text()
            assert not [p for _, p, _ in sim.request_log if TEST_KEY in p]
        finally:
            server.stop()
