"""Many readers while a refresh writes: no errors, and each read sees one export or the next,
never a mix of both."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from support import SIM_NOW, TEST_KEY, wait_until

from clari_data.ingest.refresh import run_refresh
from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg
from clari_data.read import analytics
from clari_data.read.analytics import Selection
from clari_data.runtime.scheduler import process_service, stop_process_services
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


def observe(wh: Warehouse, sel: Selection) -> tuple:
    """What a page reads in one snapshot: the data version and numbers from several queries."""
    with wh.snapshot() as cur:
        return observe_in(wh, sel, cur)


def observe_in(wh: Warehouse, sel: Selection, cur) -> tuple:
    version = analytics.data_status(wh, cur).data_version
    head = analytics.headline_of(analytics.weekly_totals(wh, sel, cur))
    coverage = analytics.coverage_members(wh, sel, cur)
    weekly = analytics.weekly_totals(wh, sel, cur)
    return (version, head.commit, head.pipeline, round(coverage["pipeline_amount"].sum(), 2),
            round(weekly["commit_amount"].iloc[-1], 2), len(coverage))


def test_a_read_open_across_a_commit_sees_only_the_export_it_began_with(sim_settings, simulator):
    """The overlap made certain: a snapshot opened before a refresh, half read, then the refresh
    commits a new export, then the rest is read through the same snapshot."""
    period = simulator.org.current_period()
    with Warehouse.from_settings(sim_settings) as wh:
        assert run_refresh(sim_settings, wh, periods=[period]).outcome == "success"
        sel = Selection("net_arr", period)
        simulator.org.advance(2)
        with wh.snapshot() as cur:
            first = observe_in(wh, sel, cur)
            assert run_refresh(sim_settings, wh, periods=[period]).outcome == "success"  # commits meanwhile
            latest = observe(wh, sel)
            assert latest[0] == first[0] + 1 and latest[1:] != first[1:]  # the commit is visible outside
            assert observe_in(wh, sel, cur) == first  # and not inside: no mix of the two exports


@pytest.mark.slow
def test_threads_reading_during_a_refresh_see_whole_exports(sim_settings, tmp_path):
    # A larger org makes the load long enough for many reads to overlap it.
    org = SyntheticOrg(seed=5, users=1500, now=SIM_NOW)
    with SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=0.05).start() as sim:
        settings = replace(sim_settings, clari=replace(sim_settings.clari, base_url=sim.base_url))
        period = sim.org.current_period()
        with Warehouse.from_settings(settings) as wh:
            assert run_refresh(settings, wh, periods=[period]).outcome == "success"
            sel = Selection("net_arr", period)
            old = observe(wh, sel)
            sim.org.advance(2)
            done = threading.Event()
            seen: dict[int, set] = defaultdict(set)
            errors: list[BaseException] = []
            reads = [0]

            def reader() -> None:
                while not done.is_set():
                    try:
                        snapshot = observe(wh, sel)
                        seen[snapshot[0]].add(snapshot)
                        reads[0] += 1
                    except BaseException as exc:  # noqa: BLE001 - any error is a failure
                        errors.append(exc)
                        return

            threads = [threading.Thread(target=reader) for _ in range(8)]
            for t in threads:
                t.start()
            result = run_refresh(settings, wh, periods=[period])
            # The readers go on until one of them has read the new export: both sides of the commit
            # are then seen by threads that were reading while it happened.
            wait_until(lambda: old[0] + 1 in seen or errors, 60, "a reader seeing the new export")
            done.set()
            for t in threads:
                t.join()
            new = observe(wh, sel)

    assert result.outcome == "success" and not errors, errors
    assert new[0] == old[0] + 1 and new[1:] != old[1:]  # the refresh did change the numbers
    assert set(seen) == {old[0], new[0]} and reads[0] > 10
    for version, snapshots in seen.items():
        assert snapshots == {old if version == old[0] else new}, f"mixed reads at version {version}"


@pytest.mark.slow
def test_app_sessions_render_during_a_refresh(tmp_path, monkeypatch):
    """AppTest sessions keep rendering, without an exception, while the server's refresh writes."""
    config = tmp_path / "clari.toml"
    config.write_text("[demo]\njob_seconds = 0.3\nusers = 600\n[schedule]\nmanual_cooldown_seconds = 0\n")
    monkeypatch.setenv("CLARI_CONFIG", str(config))
    monkeypatch.setenv("CLARI_DB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.delenv("CLARI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    from clari_data.shared.config import load_settings

    try:
        service = process_service(load_settings())  # starts the first (startup) refresh
        renders = during = 0
        for page in ("views/overview.py", "views/coverage.py", "views/reps.py", "views/changes.py") * 5:
            if not service.state().running and renders and service.state().runs_completed == 1:
                assert service.request_run("manual").accepted  # a second refresh to render through
            running = service.state().running
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
            at.switch_page(page)
            at.run()
            assert not at.exception, [e.value for e in at.exception]
            renders += 1
            during += running and service.state().running  # the refresh ran for the whole render
        wait_until(lambda: service.state().runs_completed >= 1, 120, "the startup refresh's end")
        assert during >= 1, "no render overlapped a refresh"
    finally:
        stop_process_services()
