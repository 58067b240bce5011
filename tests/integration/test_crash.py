"""A refresh process killed with SIGKILL mid-download and mid-load: on restart the warehouse
opens, holds the last good export, and the next refresh polls the stored Clari job again
instead of queuing (and paying for) a new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import SIM_NOW, TEST_KEY, posts, wait_until

from clari_data.ingest.refresh import downloads_dir, run_refresh
from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg
from clari_data.shared.config import ClariSettings, Secret, Settings, WarehouseSettings
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]






def start_cli_refresh(settings: Settings, period: str) -> subprocess.Popen:
    config = Path(settings.warehouse.path).with_suffix(".toml")
    config.write_text(f'[clari]\nbase_url = "{settings.clari.base_url}"\npoll_interval_seconds = 0.02\n'
                      f'[warehouse]\npath = "{settings.warehouse.path}"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLARI_CONFIG": str(config), "CLARI_API_KEY": TEST_KEY}
    return subprocess.Popen([sys.executable, "-m", "clari_data", "refresh", "--quiet", "--period", period],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def settings_for(sim: SimulatorServer, tmp_path: Path) -> Settings:
    return Settings(clari=ClariSettings(base_url=sim.base_url, api_key=Secret(TEST_KEY), poll_interval_seconds=0.02),
                    warehouse=WarehouseSettings(path=str(tmp_path / "crash.duckdb")))


def restart_and_check(settings: Settings, sim: SimulatorServer, before: dict, period: str) -> None:
    with Warehouse.from_settings(settings) as wh:  # opens: the killed process left no lock behind
        assert wh.table_contents() == before  # the last good export, nothing of the killed one
        killed = wh.cursor().execute("SELECT outcome, error FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
        assert killed == ("failed", "the refresh process stopped before the run finished")
        job_id = wh.in_flight_job("net_arr", period)
        assert job_id is not None
        queued = posts(sim)
        result = run_refresh(settings, wh, periods=[period])
        assert result.outcome == "success" and result.outcomes[0].job_id == job_id
        assert posts(sim) == queued  # polled again, not queued again
        assert len(wh.table_contents(("exports",))["exports"]) == 2
        assert not list(downloads_dir(settings).glob("*.part"))


@contextmanager
def loaded_once(tmp_path: Path, users: int):
    """A simulator and a warehouse holding one good export; the simulated org then moves a day, so
    the next export differs. Yields (simulator, settings, period, the warehouse's data)."""
    org = SyntheticOrg(seed=3, users=users, now=SIM_NOW)
    with SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=0.05).start() as sim:
        settings = settings_for(sim, tmp_path)
        period = sim.org.current_period()
        with Warehouse.from_settings(settings) as wh:
            assert run_refresh(settings, wh, periods=[period]).outcome == "success"
            before = wh.table_contents()
        sim.org.advance(1)
        yield sim, settings, period, before


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the refresh finished before it could be killed"


def test_killed_during_download(tmp_path):
    with loaded_once(tmp_path, users=60) as (sim, settings, period, before):
        sim.faults.delay(60, path=r"/results$")  # the download hangs until we kill the process
        process = start_cli_refresh(settings, period)
        # The simulator takes the fault off its plan when the download request arrives.
        wait_until(lambda: not sim.faults.pending() or process.poll() is not None, what="the download to start")
        kill(process)
        sim.faults.clear()
        restart_and_check(settings, sim, before, period)


@pytest.mark.slow
def test_killed_during_load(tmp_path):
    with loaded_once(tmp_path, users=4000) as (sim, settings, period, before):  # a load long enough to interrupt
        folder = downloads_dir(settings)
        process = start_cli_refresh(settings, period)
        # The finished download is renamed into place just before the load starts.
        wait_until(lambda: any(folder.glob("*.json")) or process.poll() is not None, what="the load to start")
        kill(process)
        restart_and_check(settings, sim, before, period)
