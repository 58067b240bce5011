"""Scaled out, in Chromium: one refresh worker (`python -m clari_data worker`) and two dashboard
replicas (`streamlit run app.py` with CLARI_ROLE=web), each a process of its own, on a lake on a
real PostgreSQL, against the simulator over loopback HTTP. "Refresh now" pressed in both replicas
at the same moment gives one export (counted at the simulator), and both windows then show the new
run and the new export by themselves, without a reload."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import postgres
import pytest
from dashboard_server import screenshot
from playwright.sync_api import Page, expect
from support import SIM_NOW, TEST_KEY, posts, wait_until

from bench.dashboard import Dashboard
from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg
from clari_data.shared.config import ClariSettings, ScheduleSettings, Secret, Settings, WarehouseSettings
from clari_data.storage.warehouse import Warehouse

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 45_000


def config_file(settings: Settings, folder: Path) -> Path:
    """clari.toml of every process of the deployment: the tenant (the simulator), the lake."""
    w, c = settings.warehouse, settings.clari
    path = folder / "clari.toml"
    path.write_text(
        f'[clari]\nbase_url = "{c.base_url}"\npoll_interval_seconds = 0.05\n'
        f'time_periods = ["{c.time_periods[0]}"]\n'
        f'[warehouse]\nbackend = "ducklake"\ncatalog = "{w.catalog}"\ndata_path = "{w.data_path}"\n'
        f'downloads_dir = "{folder / "downloads"}"\n'
        '[schedule]\nenabled = false\nmanual_cooldown_seconds = 300\n')
    return path


def environment(config: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLARI_CONFIG": str(config), "CLARI_API_KEY": TEST_KEY, **extra}
    if "CLARI_ROLE" not in extra:
        env.pop("CLARI_ROLE", None)
    return env


def start_replica(folder: Path, config: Path) -> Dashboard:
    """A dashboard replica: `streamlit run app.py` with CLARI_ROLE=web. Nothing is loaded before it
    starts (the worker does that); started without waiting, so that two start side by side."""
    folder.mkdir()
    return Dashboard(folder, environment(config, CLARI_ROLE="web"), wait=False)


def ready(page: Page) -> None:
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=TIMEOUT)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=TIMEOUT)


def counts(page: Page, runs: int, exports: int) -> None:
    """The Data & refresh page lists this many runs and exports (its CSV buttons say how many rows)."""
    expect(page.locator(".st-key-csv-run-history-csv")).to_have_text(f"Download CSV ({runs} rows)", timeout=TIMEOUT)
    expect(page.locator(".st-key-csv-export-history-csv")).to_have_text(f"Download CSV ({exports} rows)",
                                                                        timeout=TIMEOUT)


@pytest.mark.slow
def test_presses_in_two_replicas_give_one_export_and_both_windows_move_to_the_new_data(tmp_path, browser, new_lake):
    org = SyntheticOrg(seed=7, users=30, now=SIM_NOW)
    with SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=1.5).start() as simulator:
        base = Settings(clari=ClariSettings(base_url=simulator.base_url, api_key=Secret(TEST_KEY),
                                            time_periods=(org.current_period(),)),
                        warehouse=WarehouseSettings(path=str(tmp_path / "unused.duckdb")),
                        schedule=ScheduleSettings(enabled=False))
        settings = postgres.lake_settings(base, new_lake())
        config = config_file(settings, tmp_path)
        worker_log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen([sys.executable, "-m", "clari_data", "worker", "--id", "w1"], cwd=ROOT,
                                  env=environment(config), stdout=worker_log, stderr=subprocess.STDOUT)
        replicas: list[Dashboard] = []
        contexts = []
        try:
            # The worker loads the empty lake (its startup refresh); replicas need its tables.
            wait_until(lambda: worker.poll() is None and "leads:" in (tmp_path / "worker.log").read_text(),
                       timeout=60, what="the worker leading")
            with Warehouse.from_settings(settings, writer=False) as reader:
                wait_until(lambda: reader.refresh_overview()["runs_completed"] == 1, timeout=60,
                           what="the startup refresh")
            replicas = [start_replica(tmp_path / f"replica-{i}", config) for i in (1, 2)]
            for replica in replicas:
                replica.wait_healthy()
            pages = []
            for replica in replicas:
                contexts.append(browser.new_context(viewport={"width": 1400, "height": 1000}))
                page = contexts[-1].new_page()
                page.goto(replica.url + "/data")
                ready(page)
                expect(page.get_by_role("heading", name="Data & refresh", level=1)).to_be_visible(timeout=TIMEOUT)
                counts(page, runs=1, exports=1)
                expect(page.get_by_role("button", name="Refresh now")).to_be_enabled(timeout=TIMEOUT)
                pages.append(page)
            org.advance(1)  # the tenant's numbers move: the next export holds new data
            queued = posts(simulator)
            for page in pages:  # one after the other, without waiting for the first to take effect
                page.get_by_role("button", name="Refresh now").click()
            wait_until(lambda: posts(simulator) == queued + 1, timeout=60, what="the worker queuing the export")
            for page in pages:  # each replica shows the worker's progress, read from the lake
                expect(page.locator('[data-testid="stAlert"]').filter(has_text="Refreshing")).to_be_visible(
                    timeout=TIMEOUT)
            screenshot(pages[1], "scale-out-refreshing-in-the-other-replica")
            for page in pages:
                counts(page, runs=2, exports=2)
                expect(page.get_by_text(re.compile("Last refresh .*1 of 1 exports refreshed"))).to_be_visible(
                    timeout=TIMEOUT)
                expect(page.get_by_role("button", name="Refresh now")).to_be_disabled()  # the cool-down, shared
                assert page.locator('[data-testid="stException"]').count() == 0
            screenshot(pages[0], "scale-out-new-data")
            assert posts(simulator) == queued + 1  # both presses, one export
            for replica in replicas:
                assert TEST_KEY not in replica.log_text()
                with urllib.request.urlopen(f"{replica.url}/_stcore/health", timeout=5) as answer:
                    assert answer.read() == b"ok"
        finally:
            for context in contexts:
                context.close()
            for replica in replicas:
                replica.stop()
            worker.terminate()
            try:
                worker.wait(timeout=60)
            finally:
                worker_log.close()
            assert TEST_KEY not in (tmp_path / "worker.log").read_text()
