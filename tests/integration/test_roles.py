"""Roles in one process: the refresh worker (clari_data/runtime/worker.py) and dashboard replicas
(clari_data/runtime/replica.py) sharing nothing but the warehouse, against the simulator over loopback
HTTP, on both backends (a test taking `backend` runs on the embedded file and on a lake on a real
PostgreSQL). With a worker and replicas in processes of their own: test_roles_lake.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import postgres
import pytest
from support import TEST_KEY, posts, wait_until

from clari_data.ingest.refresh import Progress, run_refresh
from clari_data.read import analytics
from clari_data.runtime.leader import WorkerIdentity
from clari_data.runtime.replica import SILENT_AFTER, UNCLAIMED_AFTER, ReplicaService, replica_state
from clari_data.runtime.worker import EXIT_STOPPED, Worker
from clari_data.shared.config import ScheduleSettings
from clari_data.shared.timeutil import naive_utc
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
FAST = {"poll_seconds": 0.1, "standby_seconds": 0.2, "publish_seconds": 0.1, "heartbeat_seconds": 0.5}


@contextmanager
def running_worker(settings, refresh=run_refresh, **options):
    """A leading worker in a thread of this process; yields it once it leads."""
    worker = Worker(settings, identity=WorkerIdentity(worker_id="w1"), refresh=refresh, **{**FAST, **options})
    stop = threading.Event()
    codes = []
    thread = threading.Thread(target=lambda: codes.append(worker.run(stop)), daemon=True)
    thread.start()
    wait_until(worker.leading.is_set, what="the worker leading")
    worker.replicas = []
    try:
        yield worker
    finally:
        for replica in worker.replicas:
            replica.stop()
        stop.set()
        thread.join(timeout=30)
        assert codes == [EXIT_STOPPED]


def replicas(worker, n=1, **options):
    """Replica services: on a lake each reads it through a connection of its own (writer=False),
    as a replica process does; on the embedded file, which one process opens, through the worker's."""
    shared = None if worker.settings.warehouse.backend == "ducklake" else worker.service.warehouse
    made = [ReplicaService(worker.settings, warehouse=shared, poll_seconds=0.1, **options).start() for _ in range(n)]
    worker.replicas += made
    return made


def run_rows(wh):
    return analytics.run_history(wh).to_dict("records")


def idle_settings(sim_settings, **schedule):
    """The schedule paused (only requests start runs), the data already there (no startup run)."""
    return replace(sim_settings, schedule=ScheduleSettings(enabled=False, **schedule))


@pytest.fixture
def loaded(sim_settings, backend, request):
    settings = postgres.on_backend(idle_settings(sim_settings), backend, request)
    with Warehouse.from_settings(settings) as wh:
        assert run_refresh(settings, wh, trigger="cli").outcome == "success"
    return settings


def test_a_request_from_a_replica_is_run_by_the_worker(loaded, simulator):
    with running_worker(loaded) as worker:
        [replica] = replicas(worker)
        before = replica.state()
        assert not before.running and before.runs_completed == 1
        queued = posts(simulator)
        answer = replica.request_run("manual", "ana@example.com")
        assert answer.accepted, answer
        assert replica.state().running and replica.state().progress.stage == "queued"
        wait_until(lambda: replica.state().runs_completed == 2 and not replica.state().running,
                   what="the requested run finishing, as the replica sees it")
        state = replica.state()
        assert state.progress.stage == "done" and "2 of 2 exports refreshed" in state.progress.message
        assert state.last_finished_at is not None
        assert 0 < state.cooldown_remaining <= loaded.schedule.manual_cooldown_seconds
        newest = run_rows(worker.service.warehouse)[0]
        assert (newest["trigger"], newest["requested_by"], newest["outcome"]) == ("manual", "ana@example.com",
                                                                                  "success")
        assert posts(simulator) == queued + 1  # one run: the current quarter (the one before is final)
        assert worker.service.warehouse.pending_refresh_requests() == []


@pytest.mark.slow
def test_presses_in_many_replicas_at_once_give_one_run(loaded, simulator):
    with running_worker(loaded, poll_seconds=0.5) as worker:
        many = replicas(worker, 4)
        barrier = threading.Barrier(4 * 5)
        answers = []

        def press(replica, who):
            barrier.wait()
            answers.append(replica.request_run("manual", who))

        threads = [threading.Thread(target=press, args=(r, f"user{i}@example.com")) for r in many for i in range(5)]
        queued = posts(simulator)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(a.accepted for a in answers) >= 1
        refusals = {a.message for a in answers if not a.accepted}
        assert all("waiting for the refresh worker" in m or "already running" in m or "moments ago" in m
                   for m in refusals), refusals
        wait_until(lambda: all(r.state().runs_completed == 2 and not r.state().running for r in many),
                   what="every replica seeing the one run finished")
        assert len(run_rows(worker.service.warehouse)) == 2
        assert posts(simulator) == queued + 1
        # Later presses meet the cool-down, counted from the warehouse in every replica alike.
        again = many[3].request_run("manual", "late@example.com")
        assert not again.accepted and "allowed in" in again.message


def test_a_press_within_the_cool_down_that_a_replica_could_not_see_yet_joins_the_last_run(loaded, simulator):
    """Two replicas pressing a moment apart: the second checked the cool-down against what it last
    read, before the first press reached it (seen by hand: presses 0.8 s apart gave two runs). The
    worker, which sees every press, answers the second with the run the first started."""
    with running_worker(loaded) as worker:
        [first] = replicas(worker)
        assert first.request_run("manual", "ana@example.com").accepted
        wait_until(lambda: first.state().runs_completed == 2 and not first.state().running,
                   what="the first press's run finishing")
    cooldown = loaded.schedule.manual_cooldown_seconds
    with Warehouse.from_settings(loaded) as wh:
        started = run_rows(wh)[0]["started_at"]
        for request_id, after in (("late-press", 1), ("next-press", cooldown + 1)):
            wh.add_refresh_request(request_id, trigger="manual", requested_by="bo@example.com",
                                   origin="a replica a moment behind", now=started + timedelta(seconds=after))
        status = {"worker_id": "w2", "host": "h", "pid": 1, "leading_since": naive_utc(), "updated_at": naive_utc(),
                  "state": "running"}
        claimed, to_run = wh.claim_refresh_requests("w2", status, cooldown_seconds=cooldown)
    assert [r["request_id"] for r in claimed] == ["late-press", "next-press"]
    assert [r["request_id"] for r in to_run] == ["next-press"]  # past the cool-down: a run of its own


def test_progress_of_a_running_refresh_reaches_the_replica(loaded):
    release = threading.Event()

    def slow_refresh(settings, warehouse, *, progress, **kwargs):
        progress(Progress("exporting", "net_arr 2026_Q4: Clari job STARTED", forecast_id="net_arr",
                          period="2026_Q4", job_status="STARTED", step=1, steps=2))
        assert release.wait(30)
        return run_refresh(settings, warehouse, progress=progress, **kwargs)

    with running_worker(loaded, refresh=slow_refresh) as worker:
        [replica] = replicas(worker)
        assert replica.request_run("manual").accepted
        wait_until(lambda: replica.state().progress is not None and replica.state().progress.stage == "exporting",
                   what="the worker's progress in the replica")
        state = replica.state()
        assert state.running and (state.progress.step, state.progress.steps) == (1, 2)
        assert state.progress.job_status == "STARTED" and "Clari job STARTED" in state.progress.message
        busy = replica.request_run("manual")
        assert not busy.accepted and "already running" in busy.message
        assert worker.service.warehouse.pending_refresh_requests() == []
        release.set()
        wait_until(lambda: not replica.state().running and replica.state().runs_completed == 2)


def test_replicas_apply_the_access_rules_and_record_nothing_refused(loaded):
    settings = replace(loaded, schedule=replace(loaded.schedule, manual_refresh=False))
    with running_worker(settings) as worker:
        [replica] = replicas(worker)
        answer = replica.request_run("manual", "ana@example.com")
        assert not answer.accepted and "manual_refresh" in answer.message
    restricted = replace(loaded, access=replace(loaded.access, refresh_allowed=("@revops.example.com",)))
    with running_worker(restricted) as worker:
        [replica] = replicas(worker)
        forged = replica.request_run("manual", "eve@example.com", sign_in=True)
        assert not forged.accepted and "may not refresh" in forged.message
        assert worker.service.warehouse.refresh_overview()["pending"] == 0
        assert replica.request_run("manual", "lead@revops.example.com", sign_in=True).accepted
        wait_until(lambda: replica.state().runs_completed == 2)


@pytest.mark.slow
def test_a_new_leader_resumes_the_run_the_last_one_left(sim_settings, simulator, backend, request):
    """The leader died mid-export (its status still says running, its Clari job stored): the next
    leader refreshes at once and polls that job instead of queuing a new export."""
    settings = postgres.on_backend(idle_settings(sim_settings), backend, request)
    period = simulator.org.current_period()
    settings = replace(settings, clari=replace(settings.clari, time_periods=(period,)))
    with Warehouse.from_settings(settings) as wh:
        assert run_refresh(settings, wh).outcome == "success"
        from clari_data.ingest.client import ClariClient

        with ClariClient.from_settings(settings.clari) as client:
            job_id = client.queue_export("net_arr", time_period=period, include_historical=True)
        wh.remember_job(job_id, "net_arr", period)
        wh.publish_worker_status(worker_id="dead", host="elsewhere", pid=1, state="running", stage="exporting",
                                 message="net_arr: Clari job STARTED", updated_at=naive_utc())
    queued = posts(simulator)
    with running_worker(settings) as worker:
        wait_until(lambda: worker.service.state().runs_completed == 1 and not worker.service.state().running)
        [run] = [r for r in run_rows(worker.service.warehouse) if r["trigger"] == "resume"]
        assert run["outcome"] == "success"
        assert posts(simulator) == queued  # the stored job was polled, no export queued
        attempts = worker.service.warehouse.cursor().execute(
            "SELECT job_id FROM export_attempts WHERE run_id = ?", [run["run_id"]]).fetchall()
        assert attempts == [(job_id,)]


def test_the_replica_says_when_the_worker_went_silent_or_none_takes_requests(sim_settings):
    now = naive_utc()
    status = {"worker_id": "w1", "host": "box", "state": "running", "stage": "exporting", "message": "m",
              "forecast_id": None, "time_period": None, "job_status": None, "step": 1, "steps": 2,
              "next_run_at": None, "updated_at": now - SILENT_AFTER - timedelta(seconds=1)}
    overview = {"status": status, "runs_completed": 3, "last_finished_at": None, "last_manual_at": None,
                "pending": 0, "pending_since": None}
    silent = replica_state(overview, sim_settings, now)
    assert not silent.running and silent.progress.stage == "failed" and "stopped reporting" in silent.progress.message
    fresh = replica_state({**overview, "status": {**status, "updated_at": now}}, sim_settings, now)
    assert fresh.running and fresh.progress.message == "m"
    waiting = replica_state({**overview, "status": None, "pending": 1,
                             "pending_since": now - UNCLAIMED_AFTER - timedelta(seconds=1)}, sim_settings, now)
    assert waiting.running and waiting.progress.stage == "queued"
    assert "is `python -m clari_data worker` running?" in waiting.progress.message


def start_worker_process(settings, name: str, log: Path) -> subprocess.Popen:
    config = Path(settings.warehouse.path).with_suffix(f".{name}.toml")
    config.write_text(f'[clari]\nbase_url = "{settings.clari.base_url}"\npoll_interval_seconds = 0.02\n'
                      f'[warehouse]\npath = "{settings.warehouse.path}"\n[schedule]\nenabled = false\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLARI_CONFIG": str(config), "CLARI_API_KEY": TEST_KEY}
    return subprocess.Popen([sys.executable, "-m", "clari_data", "worker", "--id", name], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def test_a_second_worker_on_the_file_stands_by_until_it_is_free(sim_settings, tmp_path):
    """The embedded file's own lock makes one writer: a second worker process says who holds the
    file and stands by, then leads once it is free."""
    loaded = idle_settings(sim_settings)
    with Warehouse.from_settings(loaded) as wh:
        assert run_refresh(loaded, wh, trigger="cli").outcome == "success"
    log = tmp_path / "standby.log"
    with running_worker(loaded) as worker:
        standby = start_worker_process(loaded, "standby", log)
        try:
            wait_until(lambda: "standing by" in log.read_text(), timeout=60, what="the second worker standing by")
            text = log.read_text()
            assert f"process {os.getpid()}, which holds {loaded.warehouse.path}, leads" in text
            assert text.count("standing by") == 1  # said once, not at every try
            assert standby.poll() is None
            assert worker.service.warehouse.worker_status()["worker_id"] == "w1"
        except BaseException:
            standby.kill()
            raise
    try:
        wait_until(lambda: "worker standby on" in log.read_text() and " leads:" in log.read_text(), timeout=30,
                   what="the standby leading once the file is free")
    finally:
        standby.terminate()
        assert standby.wait(timeout=30) == 0, log.read_text()
    with Warehouse.from_settings(loaded) as wh:
        assert wh.worker_status()["state"] == "stopped" and wh.worker_status()["worker_id"] == "standby"
    assert TEST_KEY not in log.read_text()


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO, logger="clari_data")


def test_a_dashboard_of_role_all_on_a_lake_leads_like_a_worker(sim_settings, new_lake, caplog):
    """Role "all" on a lake refreshes itself, so it takes the workers' lock: a worker started
    beside it stands by, saying so, and leads once that dashboard stops."""
    from clari_data.runtime.scheduler import process_service, stop_process_services

    settings = postgres.lake_settings(idle_settings(sim_settings), new_lake())
    service = process_service(settings)
    worker = Worker(settings, identity=WorkerIdentity(worker_id="w2"), **FAST)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    try:
        assert service.state().runs_completed == 0
        thread.start()
        wait_until(lambda: "standing by: worker dashboard on" in caplog.text, what="the worker standing by")
        assert not worker.leading.is_set()
        stop_process_services()
        wait_until(worker.leading.is_set, what="the worker leading once the dashboard stopped")
    finally:
        stop_process_services()
        stop.set()
        thread.join(timeout=30)


def test_a_worker_without_its_catalog_database_stands_by_and_says_why(sim_settings, caplog):
    """PostgreSQL unreachable: the worker keeps trying, says why once, and the password appears
    nowhere."""
    from support import free_port

    from clari_data.shared.config import Secret

    password = "PG-SECRET-PASSWORD-51c2"
    lake = replace(sim_settings.warehouse, backend="ducklake", data_path="/tmp/unused-lake/",
                   catalog=f"postgres:dbname=nothing host=127.0.0.1 port={free_port()} user=clari",
                   password=Secret(password))
    worker = Worker(replace(sim_settings, warehouse=lake), identity=WorkerIdentity(worker_id="w3"), **FAST)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: caplog.text.count("cannot reach the lake's catalog database") >= 1)
        wait_until(lambda: caplog.text.count("trying again") >= 1)
        assert not worker.leading.is_set()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert caplog.text.count("cannot reach the lake's catalog database") == 1  # said once, not at every try
    assert "dbname=nothing host=127.0.0.1" in caplog.text and password not in caplog.text
