"""Real-browser fixtures: the dashboard server (dashboard_server.py) and Debian's Chromium driven
by Playwright (its own browser download is unavailable here). Waits are on the app's own state,
never fixed sleeps; screenshots land in artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import os

import pytest
from dashboard_server import CHROMIUM_ARGS, Server, chromium_path


def pytest_collection_modifyitems(config, items):
    """Without Chromium the journeys cannot run: skip them, unless REQUIRE_BROWSER is set (CI),
    where a missing browser must fail the run instead of hiding it."""
    if chromium_path() or os.environ.get("REQUIRE_BROWSER"):
        return
    skip = pytest.mark.skip(reason="Chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("dashboard"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if not path:
        pytest.fail("REQUIRE_BROWSER is set but Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    yield ctx
    ctx.close()


