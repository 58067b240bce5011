"""Refresh against the simulator over real loopback HTTP, into a real DuckDB file and a real
DuckLake (the tests taking `backend`, through the settings below, run on both)."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from postgres import on_backend
from support import SIM_NOW, TEST_KEY, posts, sql_value

from clari_data.__main__ import EXIT_CONFIG, EXIT_FAILED
from clari_data.ingest.client import ClariClient
from clari_data.ingest.refresh import run_refresh
from clari_data.read import analytics
from clari_data.read.analytics import Selection
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim_settings(sim_settings, backend, request):
    """conftest's settings on the simulator, on the backend under test."""
    return on_backend(sim_settings, backend, request)


@pytest.fixture
def demo_settings(demo_settings, backend, request):
    return on_backend(demo_settings, backend, request)


@pytest.fixture
def sim_wh(sim_settings):
    warehouse = Warehouse.from_settings(sim_settings)
    yield warehouse
    warehouse.close()



def test_refresh_fills_every_view(sim_settings, sim_wh, simulator):
    result = run_refresh(sim_settings, sim_wh)
    assert result.outcome == "success", result.failures
    current = simulator.org.current_period()
    assert [o.time_period for o in result.outcomes] == [current, analytics.periods(sim_wh, "net_arr")["time_period"][1]]
    for view in ("pipeline_coverage", "rep_performance", "forecast_accuracy"):
        assert sql_value(sim_wh, f"SELECT count(*) FROM {view}") > 0, view
    people = analytics.people(sim_wh, "net_arr", current)
    assert len(people) == len(simulator.org.users)
    head = analytics.headline_of(analytics.weekly_totals(sim_wh, Selection("net_arr", current)))
    assert head.users == 1 and head.quota > 0 and 0 < head.attainment_pct < 200
    run = sim_wh.cursor().execute("SELECT trigger, outcome, exports_loaded, rows_loaded FROM runs").fetchone()
    assert run[:3] == ("cli", "success", 2) and run[3] == result.rows > 0


def test_a_day_later_the_changes_are_detected(sim_settings, sim_wh, simulator):
    run_refresh(sim_settings, sim_wh)
    simulator.org.advance(1)
    second = run_refresh(sim_settings, sim_wh, periods=[simulator.org.current_period()])
    assert second.outcome == "success"
    moved = sql_value(sim_wh, "SELECT count(*) FROM forecast_moves")
    assert moved > 0
    assert sql_value(sim_wh, "SELECT count(*) FROM forecast_changes") == second.changes


def test_past_quarter_exported_after_it_ended_is_not_exported_again(sim_settings, sim_wh, simulator):
    run_refresh(sim_settings, sim_wh)
    before = posts(simulator)
    again = run_refresh(sim_settings, sim_wh)
    assert [o.status for o in again.outcomes] == ["unchanged", "skipped"]  # same clock, same data
    assert posts(simulator) == before + 1  # the quota is spent on the current quarter only


def test_an_interrupted_export_is_polled_again_not_queued_again(sim_settings, sim_wh, simulator):
    period = simulator.org.current_period()
    with ClariClient(simulator.base_url, TEST_KEY) as client:
        job_id = client.queue_export("net_arr", time_period=period)
    sim_wh.remember_job(job_id, "net_arr", period)  # as a refresh that crashed after queuing would have
    before = posts(simulator)
    result = run_refresh(sim_settings, sim_wh, periods=[period])
    assert result.outcome == "success" and result.outcomes[0].job_id == job_id
    assert posts(simulator) == before
    assert sim_wh.in_flight_job("net_arr", period) is None


@pytest.mark.slow
def test_demo_refreshes_move_the_simulated_clock(demo_settings):
    with Warehouse.from_settings(demo_settings) as wh:
        wh.set_demo_clock(SIM_NOW - timedelta(days=1))  # the first refresh runs a day later: SIM_NOW
        first = run_refresh(demo_settings, wh)
        clock = wh.demo_clock()
        second = run_refresh(demo_settings, wh)
        assert first.outcome == second.outcome == "success"
        assert (wh.demo_clock() - clock).total_seconds() == pytest.approx(86400)
        assert sql_value(wh, "SELECT count(*) FROM forecast_moves") > 0


def cli(*args, env=None, cwd=None):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "clari_data", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=120)


def test_cli_refresh_and_status(tmp_path, simulator):
    config = tmp_path / "clari.toml"
    config.write_text(f'[clari]\nbase_url = "{simulator.base_url}"\npoll_interval_seconds = 0.05\n'
                      f'[warehouse]\npath = "{tmp_path / "cli.duckdb"}"\n')
    env = {"CLARI_CONFIG": str(config), "CLARI_API_KEY": TEST_KEY}
    done = cli("refresh", env=env)
    assert done.returncode == 0, done.stderr
    assert "2 of 2 exports refreshed" in done.stdout and "rows loaded" in done.stdout
    status = cli("status", env=env)
    assert status.returncode == 0 and "Data as of" in status.stdout and "success" in status.stdout
    simulator.faults.result_body("empty")
    failed = cli("refresh", "--period", simulator.org.current_period(), env=env)
    assert failed.returncode == EXIT_FAILED
    assert "FAILED net_arr" in failed.stderr and "no entries" in failed.stderr
    for output in (done, status, failed):
        assert TEST_KEY not in output.stdout + output.stderr
        assert "Traceback" not in output.stderr


def test_cli_reports_bad_configuration_in_one_line(tmp_path):
    config = tmp_path / "clari.toml"
    config.write_text('[clari]\ntime_periods = ["2026-Q1"]\n')
    result = cli("refresh", env={"CLARI_CONFIG": str(config)})
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.strip().splitlines() == [
        "Configuration error: [clari] time_periods: '2026-Q1' is not a fiscal quarter shaped YYYY_QN, e.g. 2026_Q3"]
    bad_period = cli("refresh", "--period", "26Q1", env={"CLARI_CONFIG": str(config)})
    assert bad_period.returncode == EXIT_CONFIG and "Traceback" not in bad_period.stderr
