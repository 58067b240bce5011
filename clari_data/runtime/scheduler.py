"""The refresh service of a process that refreshes: one per process, owning the warehouse and the schedule.

A single APScheduler job does every refresh. "Refresh now" moves that job's next run time to now
instead of adding a job, so `max_instances=1` guards manual and scheduled runs alike; a lock
makes simultaneous requests from many sessions give exactly one run. Progress and results live
here in memory (thread-safe), for pages to read; pages never run refreshes themselves.

Which service a dashboard process gets depends on its role ([server] role, `process_service`):
"all" (the default) runs this one; "web" (a replica) runs `replica.ReplicaService`, which reads
the same picture from the warehouse and leaves requests there for the refresh worker
(`worker.py`), which runs this one.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import duckdb
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from clari_data.alerting import notify
from clari_data.ingest import demo
from clari_data.ingest.refresh import Progress, RefreshResult, run_refresh
from clari_data.shared.config import Settings
from clari_data.shared.timeutil import utc_now
from clari_data.storage.backends import Backend, Leadership
from clari_data.storage.warehouse import Warehouse

from .leader import WorkerIdentity, leadership_for
from .replica import ReplicaService
from .service import RefreshState, RunRequest, Service, duration, refused

log = logging.getLogger(__name__)

JOB_ID = "clari-refresh"


class RefreshService:
    def __init__(self, settings: Settings, warehouse: Warehouse | None = None,
                 refresh: Callable[..., RefreshResult] = run_refresh,
                 leadership: Leadership[Warehouse] | None = None) -> None:
        self.settings = settings
        # Held for as long as this service writes (role "all": see _writer).
        self._leadership = leadership
        self.warehouse = warehouse or Warehouse.from_settings(settings)
        self._refresh = refresh
        self._lock = threading.Lock()
        self._busy = False
        self._pending: tuple[str, str | None] | None = None  # (trigger, requested_by) of a run asked for
        self._progress: Progress | None = None
        self._last_finished_at: datetime | None = None
        self._last_manual_at: datetime | None = None
        self._runs_completed = 0
        self._scheduler = self._build_scheduler()
        self._stopped = False
        self._draining = False

    # -- lifecycle --------------------------------------------------------------------------

    def _build_scheduler(self) -> BackgroundScheduler:
        sch = self.settings.schedule
        scheduler = BackgroundScheduler(
            timezone=sch.timezone,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": sch.misfire_grace_seconds},
        )
        if sch.interval_minutes:
            trigger = IntervalTrigger(minutes=sch.interval_minutes, timezone=sch.timezone)
        else:
            trigger = CronTrigger.from_crontab(sch.cron or "0 6 * * *", timezone=sch.timezone)
        scheduler.add_job(self._job, trigger, id=JOB_ID, name="Clari refresh", replace_existing=True)
        return scheduler

    def start(self, refresh_if_empty: bool = True) -> RefreshService:
        self._scheduler.start()
        if not self.settings.schedule.enabled:
            self._scheduler.pause_job(JOB_ID)
        if refresh_if_empty and self.warehouse.data_version() == 0:
            # First start: load data through the real refresh path so the dashboard is never empty
            # (in demo mode, the simulated tenant's history: see _job).
            self.request_run("startup", None, ignore_cooldown=True)
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self._scheduler.shutdown(wait=False)
        except Exception:  # already stopped
            pass
        with self._lock:
            running = self._busy
        if not running:
            self._close_warehouse()
        # Otherwise the running refresh closes it when it ends (see _job): shutdown does not wait
        # for it, and closing under it would fail its writes.

    def _close_warehouse(self) -> None:
        try:
            self.warehouse.close()
        except duckdb.Error:
            log.info("warehouse still in use at shutdown; the process's exit releases it")
        if self._leadership is not None:
            self._leadership.release()

    def drain(self) -> None:
        """Start no new run and let a running one end, then stop the scheduler."""
        with self._lock:
            self._draining = True
        self._scheduler.shutdown(wait=True)

    @property
    def scheduler(self) -> BackgroundScheduler:
        return self._scheduler

    # -- requests ---------------------------------------------------------------------------

    def request_run(self, trigger: str = "manual", requested_by: str | None = None, *, sign_in: bool = False,
                    ignore_cooldown: bool = False) -> RunRequest:
        """Ask the refresh job to run now. Returns at once; never starts a second run.

        A manual run is checked here against `access.may_refresh` for `requested_by` (the signed-in
        address, when `sign_in` is configured), whatever the page's button showed: a forged click
        on a disabled widget ends here."""
        refusal = refused(self.settings, trigger, requested_by, sign_in)
        if refusal:
            return refusal
        with self._lock:
            if self._busy:
                return RunRequest(False, "A refresh is already running; its progress is shown here.")
            remaining = 0.0 if ignore_cooldown else self._cooldown_remaining()
            if remaining > 0:
                return RunRequest(False, f"Refreshed moments ago; the next manual refresh is allowed in "
                                         f"{duration(remaining)} (protects the Clari export quota).")
            self._busy = True
            self._pending = (trigger, requested_by)
            if trigger == "manual":
                self._last_manual_at = utc_now()
            self._progress = Progress("queued", "refresh queued")
        self._scheduler.modify_job(JOB_ID, next_run_time=utc_now())
        return RunRequest(True, "Refresh started.")

    def state(self) -> RefreshState:
        job = self._scheduler.get_job(JOB_ID)  # never under self._lock: see _job's pause
        with self._lock:
            next_run = job.next_run_time if job and not self._busy else None
            return RefreshState(self._busy, self._progress, self._last_finished_at, self._cooldown_remaining(),
                                next_run, self._runs_completed)

    def _cooldown_remaining(self) -> float:
        if self._last_manual_at is None:
            return 0.0
        ready = self._last_manual_at + timedelta(seconds=self.settings.schedule.manual_cooldown_seconds)
        return max(0.0, (ready - utc_now()).total_seconds())

    # -- the job ----------------------------------------------------------------------------

    def _job(self) -> None:
        with self._lock:
            trigger, requested_by = self._pending or ("schedule", None)
            self._pending = None
            self._busy = True
        try:
            if trigger == "startup" and demo.needs_backfill(self.settings, self.warehouse):
                # A demo's first start loads the history a tenant would have, so that changes,
                # deltas, pacing and time travel have something to show at once.
                demo.backfill(self.settings, self.warehouse, self._refresh,
                              lambda stage, message: self._on_progress(Progress(stage, message)))
            else:
                result = self._refresh(self.settings, self.warehouse, trigger=trigger, requested_by=requested_by,
                                       progress=self._on_progress)
                self._notify(result)
        except Exception as exc:  # a bug must not kill the scheduler thread; the run row says what happened
            log.exception("refresh crashed")
            with self._lock:
                self._progress = Progress("failed", f"the refresh stopped unexpectedly: {type(exc).__name__}")
        finally:
            with self._lock:
                self._busy = False
                self._last_finished_at = utc_now()
                self._runs_completed += 1
                if not (self._stopped or self._draining or self.settings.schedule.enabled):
                    # Under the lock, which drain() takes before the scheduler's shutdown holds the
                    # job store's: pausing then would wait for that shutdown, which waits for this run.
                    self._scheduler.pause_job(JOB_ID)
            if self._stopped:
                self._close_warehouse()

    def _notify(self, result: RefreshResult) -> None:
        """Slack and e-mail about the alerts the refresh made fire. The refresh's own last word
        (done or failed) is shown again once they are out: it is what the page reports afterwards."""
        with self._lock:
            final = self._progress
        notify.after_refresh(self.settings, self.warehouse, result,
                             lambda stage, message: self._on_progress(Progress(stage, message)))
        with self._lock:
            self._progress = final

    def _on_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress


# -- one service per process ---------------------------------------------------------------------
# The registry hangs off the `sys` module rather than this module: Streamlit re-imports a changed
# source file, and a fresh module-level variable would forget the running scheduler and start a
# second one beside it.
_REGISTRY_NAME = "_clari_dashboard_refresh_services"


def _registry() -> dict:
    return sys.__dict__.setdefault(_REGISTRY_NAME, {"lock": threading.Lock(), "services": {}})


def process_service(settings: Settings) -> Service:
    """The process's refresh service for these settings, created and started on first use: a
    `ReplicaService` for [server] role "web", else a `RefreshService` (role "all")."""
    registry = _registry()
    key = Backend.from_settings(settings).key
    with registry["lock"]:
        service = registry["services"].get(key)
        if service is not None and service.settings == settings and not service._stopped:
            return service
        if service is not None:  # the configuration changed: replace, never run two
            service.stop()
        service = ReplicaService(settings).start() if settings.server.role == "web" else _writer(settings).start()
        registry["services"][key] = service
        return service


def _writer(settings: Settings) -> RefreshService:
    """Role "all": this process refreshes, so it must be the only writer, as a refresh worker would
    be: it leads as a worker does (on a lake it takes the workers' leader lock), and says who holds
    the lock when it cannot."""
    leadership = leadership_for(settings, WorkerIdentity(worker_id="dashboard"))
    warehouse = leadership.lead("refreshes this lake, and a dashboard of [server] role \"all\" would be a second "
                                "writer: run the dashboards with role = \"web\" (CLARI_ROLE=web) beside the worker.")
    try:
        return RefreshService(settings, warehouse, leadership=leadership)
    except BaseException:
        warehouse.close()
        leadership.release()
        raise


def stop_process_services() -> None:
    registry = _registry()
    with registry["lock"]:
        for service in registry["services"].values():
            service.stop()
        registry["services"].clear()
    demo.stop()


def running_schedulers() -> int:
    """How many refresh schedulers this process runs (tests assert it stays at one)."""
    registry = _registry()
    with registry["lock"]:
        # By attribute, not class: a reloaded module's RefreshService is another class. Replicas have none.
        return sum(1 for s in registry["services"].values() if getattr(s, "scheduler", None) and s.scheduler.running)


atexit.register(stop_process_services)
