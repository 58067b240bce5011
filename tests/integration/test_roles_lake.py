"""Roles with real parts: refresh workers as processes of their own (`python -m clari_data worker`)
on a lake on a real PostgreSQL, dashboard replicas reading it through connections of their own,
and the simulator over loopback HTTP counting the exports queued (each spends Clari quota).

- Presses in two replicas at the same moment give one export, and both replicas then read the
  new data; the command line and a dashboard of role "all" refuse to write beside the worker.
- A standby worker takes over after a kill -9 of the leader mid-export, and polls
  the Clari job the leader stored instead of queuing a new export.
- SIGTERM mid-refresh: the worker finishes the run, then exits 0. A leader whose lock goes with its
  catalog connection exits 4 at once, mid-refresh, leaving its Clari job for the next leader.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import postgres
import pytest
from support import SIM_NOW, TEST_KEY, posts, wait_until

from clari_data.__main__ import EXIT_BUSY
from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg
from clari_data.runtime.replica import ReplicaService
from clari_data.runtime.scheduler import _writer
from clari_data.runtime.worker import EXIT_LOST, EXIT_STOPPED
from clari_data.shared.config import ClariSettings, ScheduleSettings, Secret, Settings, WarehouseSettings
from clari_data.storage.backends.lake import APP_PREFIX
from clari_data.storage.warehouse import Warehouse, WarehouseBusy

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`python -m clari_data worker --id NAME` on the lake, with a downloads folder of its own (as on
    a machine of its own) and its log in a file."""

    def __init__(self, settings: Settings, folder: Path, name: str) -> None:
        self.name = name
        self.log_path = folder / f"worker-{name}.log"
        w, c = settings.warehouse, settings.clari
        config = folder / f"worker-{name}.toml"
        periods = ", ".join(f'"{p}"' for p in c.time_periods)
        config.write_text(
            f'[clari]\nbase_url = "{c.base_url}"\npoll_interval_seconds = 0.05\ntime_periods = [{periods}]\n'
            f'[warehouse]\nbackend = "ducklake"\ncatalog = "{w.catalog}"\ndata_path = "{w.data_path}"\n'
            f'downloads_dir = "{folder / (name + "-downloads")}"\n'
            f'[schedule]\nenabled = false\nmanual_cooldown_seconds = {settings.schedule.manual_cooldown_seconds}\n')
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CLARI_CONFIG": str(config), "CLARI_API_KEY": TEST_KEY}
        env.pop("CLARI_ROLE", None)
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "clari_data", "worker", "--id", name], cwd=ROOT,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        found = []

        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited ({self.process.returncode}):\n{self.text()[-3000:]}")
            found[:] = [re.search(pattern, self.text())]
            return found[0] is not None

        wait_until(seen, timeout=timeout, what=f"{pattern!r} in worker {self.name}'s log")
        return found[0]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def workers(tmp_path):
    started: list[WorkerProcess] = []

    def start(settings: Settings, name: str) -> WorkerProcess:
        worker = WorkerProcess(settings, tmp_path, name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        assert TEST_KEY not in worker.text()


def on_lake(simulator: SimulatorServer, new_lake, tmp_path: Path, **schedule) -> Settings:
    """The simulator's tenant, one period per run (its current quarter: one export each), on a fresh lake."""
    base = Settings(
        clari=ClariSettings(base_url=simulator.base_url, api_key=Secret(TEST_KEY), poll_interval_seconds=0.05,
                            time_periods=(simulator.org.current_period(),)),
        warehouse=WarehouseSettings(path=str(tmp_path / "unused.duckdb")),
        schedule=ScheduleSettings(enabled=False, **schedule))
    return postgres.lake_settings(base, new_lake())


@pytest.mark.slow
def test_presses_in_two_replicas_give_one_export_and_both_see_the_new_data(simulator, new_lake, tmp_path, workers):
    settings = on_lake(simulator, new_lake, tmp_path, manual_cooldown_seconds=300)
    worker = workers(settings, "a")
    worker.wait_for(r"worker a on \S+ \(pid \d+\) leads:")
    # The worker's first start loads the empty lake (its startup refresh: one export).
    wait_until(lambda: posts(simulator) == 1, what="the startup export")
    one, two = (ReplicaService(settings, poll_seconds=1.0).start() for _ in range(2))
    try:
        wait_until(lambda: all(r.state().runs_completed == 1 and not r.state().running for r in (one, two)),
                   what="both replicas seeing the startup run")
        assert one.warehouse.data_version() == two.warehouse.data_version() == 1
        simulator.org.advance(1)  # the tenant's numbers move: the next export holds new data
        barrier = threading.Barrier(2)
        answers: dict[str, object] = {}

        def press(name: str, replica: ReplicaService) -> None:
            barrier.wait()
            answers[name] = replica.request_run("manual", f"{name}@example.com")

        threads = [threading.Thread(target=press, args=item) for item in (("one", one), ("two", two))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert any(a.accepted for a in answers.values()), answers
        # The worker takes the request, and every replica sees the run through (how soon: by hand, in
        # the README; the timeouts only bound a hang).
        wait_until(lambda: posts(simulator) == 2, timeout=60, what="the worker queuing the export")
        wait_until(lambda: all(r.state().runs_completed == 2 and not r.state().running for r in (one, two)),
                   timeout=60, what="both replicas seeing the run finished")
        assert posts(simulator) == 2  # one export for both presses
        assert one.warehouse.data_version() == two.warehouse.data_version() == 2
        for replica in (one, two):
            state = replica.state()
            assert state.progress.stage == "done" and "1 of 1 exports refreshed" in state.progress.message
            assert 0 < state.cooldown_remaining <= 300
            assert replica.warehouse.pending_refresh_requests() == []
        # Nothing else writes beside the worker: a dashboard of role "all" and the command line say who does.
        with pytest.raises(WarehouseBusy, match=r"worker a on .* refreshes this lake.*role = \"web\""):
            _writer(settings)
        cli = subprocess.run([sys.executable, "-m", "clari_data", "refresh"], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "CLARI_API_KEY": TEST_KEY,
                                  "CLARI_CONFIG": str(tmp_path / "worker-a.toml")}, timeout=60)
        assert cli.returncode == EXIT_BUSY and "worker a on" in cli.stderr and "Refresh now" in cli.stderr, cli.stderr
        status = subprocess.run([sys.executable, "-m", "clari_data", "status"], cwd=ROOT, capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                "CLARI_CONFIG": str(tmp_path / "worker-a.toml")}, timeout=60)
        assert status.returncode == 0 and "manual" in status.stdout, status.stderr
    finally:
        one.stop()
        two.stop()


@pytest.mark.slow
def test_a_standby_takes_over_after_kill_9_mid_export_and_resumes_the_job(new_lake, tmp_path, workers):
    # Slow jobs: the leader is killed while Clari still works on its export.
    org = SyntheticOrg(seed=7, users=30, now=SIM_NOW)
    with SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=8).start() as simulator:
        settings = on_lake(simulator, new_lake, tmp_path)
        leader = workers(settings, "a")
        leader.wait_for(r"worker a on \S+ \(pid \d+\) leads:")
        standby = workers(settings, "b")
        standby.wait_for(r"worker b on \S+ \(pid \d+\) standing by: worker a on \S+ \(pid \d+\) leads")
        # The leader's startup refresh queues an export and stores its job before polling it.
        reader = Warehouse.from_settings(settings, writer=False)
        try:
            wait_until(lambda: reader.in_flight_job("net_arr", settings.clari.time_periods[0]) is not None,
                       timeout=30, what="the leader's stored Clari job")
            [job_id] = simulator.jobs
            assert reader.in_flight_job("net_arr", settings.clari.time_periods[0]) == job_id
            assert simulator.jobs[job_id].status in ("SCHEDULED", "STARTED")
            leader.kill()
            standby.wait_for(r"worker b on \S+ \(pid \d+\) leads:", timeout=120)
            wait_until(lambda: reader.refresh_overview()["runs_completed"] == 2 and reader.data_version() == 1,
                       timeout=120, what="the standby's run finishing")
            assert posts(simulator) == 1 and list(simulator.jobs) == [job_id]  # polled again, never queued anew
            runs = reader.cursor().execute(
                "SELECT trigger, outcome, error FROM runs ORDER BY run_id").fetchall()
            assert runs[0] == ("startup", "failed", "the refresh process stopped before the run finished")
            assert runs[1][1] == "success"
            attempts = reader.cursor().execute(
                "SELECT job_id, status FROM export_attempts WHERE run_id = 2").fetchall()
            assert attempts == [(job_id, "loaded")]
            assert reader.worker_status()["worker_id"] == "b"
            assert "polling the Clari jobs it left" in standby.text() or "polling Clari job" in standby.text()
        finally:
            reader.close()


def mid_export(simulator: SimulatorServer, settings: Settings, reader: Warehouse) -> str:
    """Waits for the leader's startup refresh to store its Clari job, while Clari still works on it."""
    period = settings.clari.time_periods[0]
    wait_until(lambda: reader.in_flight_job("net_arr", period) is not None, timeout=60,
               what="the leader's stored Clari job")
    [job_id] = simulator.jobs
    assert simulator.jobs[job_id].status in ("SCHEDULED", "STARTED")
    return job_id


@contextmanager
def leading_mid_export(new_lake, tmp_path, workers, job_seconds: float):
    """Worker a leading a lake whose startup refresh has stored its Clari job, which Clari still
    works on (for `job_seconds`): the simulator, the settings, the worker, a reader and the job id."""
    org = SyntheticOrg(seed=7, users=30, now=SIM_NOW)
    with SimulatorServer(org, api_keys=(TEST_KEY,), job_seconds=job_seconds).start() as simulator:
        settings = on_lake(simulator, new_lake, tmp_path)
        worker = workers(settings, "a")
        worker.wait_for(r"worker a on \S+ \(pid \d+\) leads:")
        reader = Warehouse.from_settings(settings, writer=False)
        try:
            yield simulator, settings, worker, reader, mid_export(simulator, settings, reader)
        finally:
            reader.close()


def test_sigterm_mid_refresh_lets_the_run_finish_then_the_worker_exits_0(new_lake, tmp_path, workers):
    with leading_mid_export(new_lake, tmp_path, workers, job_seconds=3) as (simulator, _, worker, reader, job_id):
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=120) == EXIT_STOPPED, worker.text()[-3000:]
        assert "waiting for the running refresh to end" in worker.text()
        assert reader.cursor().execute("SELECT trigger, outcome FROM runs").fetchall() == [("startup", "success")]
        assert reader.cursor().execute("SELECT job_id, status FROM export_attempts").fetchall() == [
            (job_id, "loaded")]
        # The worker said it stopped once the run had ended, not while it still wrote.
        status = reader.worker_status()
        assert (status["state"], status["stage"]) == ("stopped", "done") and status["last_finished_at"]
        assert reader.data_version() == 1
        assert posts(simulator) == 1


def test_a_leader_whose_lock_connection_ends_exits_4_at_once_mid_refresh(new_lake, tmp_path, workers, _postgres):
    # A job Clari never finishes while this test runs: the exit cannot be the run's end.
    with leading_mid_export(new_lake, tmp_path, workers, job_seconds=3600) as (_, settings, worker, reader, job_id):
        # As when PostgreSQL restarts: the session holding the advisory lock ends.
        [(ended,)] = _postgres.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       f"WHERE application_name LIKE '{APP_PREFIX}a on %'")
        assert ended == 1
        assert worker.process.wait(timeout=120) == EXIT_LOST, worker.text()[-3000:]
        assert "lost the leader lock" in worker.text()
        assert reader.in_flight_job("net_arr", settings.clari.time_periods[0]) == job_id  # for the next leader
        assert reader.data_version() == 0


@pytest.fixture
def simulator():
    """The tests' tenant: a simulator on loopback, quick jobs, TEST_KEY (as conftest's, with the
    SIM_NOW clock this module moves)."""
    server = SimulatorServer(SyntheticOrg(seed=7, users=30, now=SIM_NOW), api_keys=(TEST_KEY,),
                             job_seconds=0.05).start()
    yield server
    server.stop()

