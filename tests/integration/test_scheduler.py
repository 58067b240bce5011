"""The refresh service: one scheduler per process, run-now without doubles, history, banners."""

import importlib
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from support import wait_until

from clari_data.__main__ import EXIT_BUSY
from clari_data.alerting import alerts, notify
from clari_data.ingest.refresh import RefreshResult
from clari_data.read import analytics
from clari_data.runtime import scheduler
from clari_data.runtime.scheduler import RefreshService, process_service, running_schedulers, stop_process_services
from clari_data.shared import rules
from clari_data.shared.config import ScheduleSettings
from clari_data.shared.timeutil import utc_now


def runs(service, trigger=None, finished=False) -> int:
    history = analytics.run_history(service.warehouse)
    if trigger is not None:
        history = history[history["trigger"] == trigger]
    if finished:
        history = history[history["outcome"] != "running"]
    return len(history)


@pytest.fixture
def service(sim_settings):
    svc = RefreshService(sim_settings).start(refresh_if_empty=False)
    yield svc
    svc.stop()


def idle(svc):
    return lambda: not svc.state().running


def test_simultaneous_run_now_requests_give_one_run(service):
    barrier = threading.Barrier(20)
    answers = []

    def click():
        barrier.wait()
        answers.append(service.request_run("manual", "someone@example.com"))

    threads = [threading.Thread(target=click) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: service.state().runs_completed == 1)
    assert sum(a.accepted for a in answers) == 1
    assert all("already running" in a.message or "moments ago" in a.message for a in answers if not a.accepted)
    # Nothing else is queued: no run pending, and the job's next run is the schedule's, not now.
    wait_until(idle(service))
    assert service._pending is None
    assert service.scheduler.get_job(scheduler.JOB_ID).next_run_time > utc_now() + timedelta(minutes=1)
    assert runs(service) == 1
    [run] = analytics.run_history(service.warehouse).to_dict("records")
    assert (run["trigger"], run["requested_by"], run["outcome"]) == ("manual", "someone@example.com", "success")


def test_cooldown_after_a_manual_run(service):
    assert service.request_run("manual").accepted
    wait_until(idle(service))
    again = service.request_run("manual")
    assert not again.accepted and "allowed in" in again.message
    assert 0 < service.state().cooldown_remaining <= service.settings.schedule.manual_cooldown_seconds
    assert service.request_run("startup", ignore_cooldown=True).accepted  # the cool-down guards manual runs


def test_a_short_interval_fires(sim_settings):
    settings = replace(sim_settings, schedule=ScheduleSettings(interval_minutes=0.01))  # every 0.6 s
    svc = RefreshService(settings).start(refresh_if_empty=False)
    try:
        wait_until(lambda: runs(svc, "schedule", finished=True) >= 1)
        assert svc.scheduler.get_job(scheduler.JOB_ID).max_instances == 1
        assert svc.scheduler.get_job(scheduler.JOB_ID).coalesce is True
    finally:
        svc.stop()


def test_a_manual_and_a_scheduled_run_never_overlap(sim_settings):
    """A scheduled run falls due while a manual one runs: the scheduler skips it (one job,
    max_instances=1), and never are two refreshes running at once."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES

    lock, release, skipped = threading.Lock(), threading.Event(), threading.Event()
    active, most, started = [0], [0], []

    def refresh(settings, wh, *, trigger, requested_by, progress):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            started.append(trigger)
        try:
            release.wait(30)
        finally:
            with lock:
                active[0] -= 1
        return RefreshResult(len(started), ())

    settings = replace(sim_settings, schedule=ScheduleSettings(interval_minutes=0.01, manual_cooldown_seconds=0))
    svc = RefreshService(settings, refresh=refresh).start(refresh_if_empty=False)
    svc.scheduler.add_listener(lambda event: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    try:
        wait_until(lambda: started)  # the first scheduled run, held open
        assert not svc.request_run("manual").accepted  # refused while it runs
        release.set()
        wait_until(idle(svc))
        release.clear()
        assert svc.request_run("manual").accepted
        wait_until(lambda: started[-1:] == ["manual"])
        wait_until(skipped.is_set, what="a scheduled run falling due during the manual one")
        release.set()
        wait_until(lambda: started.count("schedule") >= 2, what="the schedule going on afterwards")
    finally:
        release.set()
        svc.stop()
    assert most[0] == 1


def test_default_schedule_is_daily_at_six_in_the_configured_timezone(sim_settings):
    settings = replace(sim_settings, schedule=ScheduleSettings(timezone="Europe/Berlin"))
    svc = RefreshService(settings).start(refresh_if_empty=False)  # job defaults apply once started
    try:
        job = svc.scheduler.get_job(scheduler.JOB_ID)
        assert str(job.trigger) == "cron[month='*', day='*', day_of_week='*', hour='6', minute='0']"
        assert str(job.trigger.timezone) == "Europe/Berlin"
        assert job.misfire_grace_time == 3600
    finally:
        svc.stop()


def test_a_failed_refresh_is_recorded_and_raises_the_banner(service, simulator):
    simulator.faults.error_code("export_monthly_quota_reached", times=None)
    assert service.request_run("manual").accepted
    wait_until(lambda: service.state().runs_completed == 1)
    [run] = analytics.run_history(service.warehouse).to_dict("records")
    assert run["outcome"] == "failed" and "quota" in run["error"].lower()
    assert service.state().progress.stage == "failed"
    found = {a.rule: a for a in alerts.evaluate(service.warehouse, service.settings, None)}
    assert found["refresh_failed"].severity == "error" and "quota" in found["refresh_failed"].message.lower()


def test_stale_banner_follows_the_last_success(service):
    service.request_run("manual")
    wait_until(lambda: service.state().runs_completed == 1)
    fresh_at = analytics.data_status(service.warehouse).fresh_at
    hours = service.settings.alerts.stale_after_hours
    fresh = rules.stale_alert(fresh_at, fresh_at + timedelta(hours=hours - 1), stale_after_hours=hours)
    stale = rules.stale_alert(fresh_at, fresh_at + timedelta(hours=hours + 1), stale_after_hours=hours)
    assert fresh is None and stale is not None and f"{hours:g} hours" in stale.message


def test_progress_reports_each_stage(service):
    seen = []
    original = service._on_progress

    def record(p):
        seen.append(p.stage)
        original(p)

    service._on_progress = record
    service.request_run("manual")
    wait_until(lambda: service.state().runs_completed == 1)
    for stage in ("starting", "queued", "exporting", "downloading", "loading", "done"):
        assert stage in seen


def test_the_job_sends_the_notifications_after_the_refresh(service, monkeypatch):
    sent, stages = [], []
    original = service._on_progress

    def record(p):
        stages.append(p.stage)
        original(p)

    def after_refresh(settings, wh, result, progress):
        assert runs(service, finished=True) == 1  # the run is recorded before anything is sent
        progress(notify.NOTIFYING, "sending notifications of new alerts")
        sent.append(result.run_id)
        return ()

    monkeypatch.setattr(notify, "after_refresh", after_refresh)
    service._on_progress = record
    service.request_run("manual")
    wait_until(lambda: service.state().runs_completed == 1)
    assert sent == [analytics.run_history(service.warehouse)["run_id"].iloc[0]]
    assert stages[-2:] == ["done", notify.NOTIFYING]
    assert service.state().progress.stage == "done"  # the refresh's own last word stays on show


def test_one_service_per_process_even_across_module_reloads(sim_settings):
    try:
        first = process_service(sim_settings)
        threads = [threading.Thread(target=process_service, args=(sim_settings,)) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reloaded = importlib.reload(scheduler)  # what Streamlit does when a source file changes
        assert reloaded.process_service(sim_settings) is first
        assert running_schedulers() == 1
        changed = replace(sim_settings, alerts=replace(sim_settings.alerts, coverage_min=2.0))
        second = reloaded.process_service(changed)  # new configuration: replaced, never two
        assert second is not first and not first.scheduler.running and running_schedulers() == 1
    finally:
        stop_process_services()
    assert running_schedulers() == 0


def test_the_command_line_refresh_refuses_while_the_server_holds_the_warehouse(sim_settings, tmp_path):
    """The CLI refuses clearly while the server (here: this process) holds the file."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    svc = RefreshService(sim_settings).start(refresh_if_empty=False)
    try:
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": str(root), "CLARI_DB_PATH": sim_settings.warehouse.path,
               "CLARI_API_KEY": "x", "CLARI_BASE_URL": sim_settings.clari.base_url}
        done = subprocess.run([sys.executable, "-m", "clari_data", "refresh"], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=60)
        assert done.returncode == EXIT_BUSY
        assert f"in use by process {os.getpid()}" in done.stderr and "Traceback" not in done.stderr
    finally:
        svc.stop()
