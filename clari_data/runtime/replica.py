"""The refresh service of a dashboard replica ([server] role = "web"): no scheduler, no writes but
requests. It offers the pages what `scheduler.RefreshService` does (`warehouse`, `state()`,
`request_run(...)`), read from the warehouse the refresh worker writes:

- `state()` is the worker's published status, the runs and the pending requests, read by one
  thread of the process every `poll_seconds` (not once per session and rerun: a replica may serve
  dozens of sessions, each redrawing its refresh indicator every two seconds);
- `request_run` applies the same access rule and cool-down as a single-process dashboard (the
  cool-down from the warehouse: the last manual run or request of any replica), then records a
  request, which the leading worker claims within a second or two. A press while a run is going
  on or a request is waiting says so and records nothing; presses in several replicas at the same
  moment may each record one, and the worker answers them all with one run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from clari_data.ingest.refresh import Progress
from clari_data.shared.config import Settings
from clari_data.shared.timeutil import naive_utc
from clari_data.storage.warehouse import Warehouse, WarehouseError

from .service import RefreshState, RunRequest, duration, refused

log = logging.getLogger(__name__)

# A running worker writes its status at least every 10 s (worker.py: heartbeat_seconds); one silent
# for this long has stopped (a standby takes over and finishes its run).
SILENT_AFTER = timedelta(seconds=45)
# A request no worker has claimed after this long says so: is a worker running at all?
UNCLAIMED_AFTER = timedelta(seconds=20)


class ReplicaService:
    def __init__(self, settings: Settings, warehouse: Warehouse | None = None, *, poll_seconds: float = 1.0) -> None:
        self.settings = settings
        self._own_warehouse = warehouse is None
        self.warehouse = warehouse or Warehouse.from_settings(settings, writer=False)
        self.poll_seconds = poll_seconds
        self.origin = f"{socket.gethostname()} pid {os.getpid()}"
        self._lock = threading.Lock()  # one request at a time from this process's sessions
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._stopped = False
        self._state, self._last_manual_at = self._read()
        self._thread = threading.Thread(target=self._poll, name="clari-replica-state", daemon=True)

    def start(self) -> ReplicaService:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if not self._own_warehouse:
            return
        try:
            self.warehouse.close()
        except duckdb.Error:
            log.info("warehouse still in use at shutdown; the process's exit releases it")

    # -- the state, from the warehouse --------------------------------------------------------

    def _read(self) -> tuple[RefreshState, datetime | None]:
        overview = self.warehouse.refresh_overview()
        return replica_state(overview, self.settings, naive_utc()), overview["last_manual_at"]

    def _keep(self, read: tuple[RefreshState, datetime | None]) -> RefreshState:
        with self._state_lock:
            self._state, self._last_manual_at = read
        return read[0]

    def _poll(self) -> None:
        said = None
        while not self._stop.wait(self.poll_seconds):
            try:
                self._keep(self._read())
                said = None
            except (WarehouseError, duckdb.Error) as exc:  # the last state stays; tried again next time
                if str(exc) != said:  # once, not every second
                    log.warning("could not read the refresh state from the warehouse: %s", exc)
                    said = str(exc)

    def state(self) -> RefreshState:
        """The refresh as of the last read (at most `poll_seconds` old), the cool-down as of now."""
        with self._state_lock:
            state, last_manual_at = self._state, self._last_manual_at
        remaining = cooldown_remaining(last_manual_at, self.settings)
        return state if remaining == state.cooldown_remaining else replace(state, cooldown_remaining=remaining)

    # -- requests -----------------------------------------------------------------------------

    def request_run(self, trigger: str = "manual", requested_by: str | None = None, *, sign_in: bool = False,
                    ignore_cooldown: bool = False) -> RunRequest:
        """Record a request for the worker. Returns at once; records none while a run is going on
        or another request waits (the worker would answer both with one run anyway)."""
        refusal = refused(self.settings, trigger, requested_by, sign_in)
        if refusal:
            return refusal
        with self._lock:
            state = self._keep(self._read())  # now, not the last poll's: another replica may have asked since
            if state.running:
                waiting = state.progress is not None and state.progress.stage == "queued"
                return RunRequest(False, "A refresh was requested moments ago and is waiting for the refresh "
                                         "worker." if waiting else
                                  "A refresh is already running; its progress is shown here.")
            remaining = 0.0 if ignore_cooldown else state.cooldown_remaining
            if remaining > 0:
                return RunRequest(False, f"Refreshed moments ago; the next manual refresh is allowed in "
                                         f"{duration(remaining)} (protects the Clari export quota).")
            self.warehouse.add_refresh_request(uuid.uuid4().hex, trigger=trigger, requested_by=requested_by,
                                               origin=self.origin)
            self._keep(self._read())
        return RunRequest(True, "Refresh requested: the refresh worker starts it within seconds.")


def cooldown_remaining(last_manual_at: datetime | None, settings: Settings) -> float:
    """Seconds until "Refresh now" is allowed again after a manual run or request at that moment."""
    if last_manual_at is None:
        return 0.0
    ready = naive_utc(last_manual_at) + timedelta(seconds=settings.schedule.manual_cooldown_seconds)
    return max(0.0, (ready - naive_utc()).total_seconds())


def _aware(moment: datetime | None, timezone: str = "UTC") -> datetime | None:
    """A stored (naive UTC) moment as the single-process service gives it: aware, in `timezone`."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)) if moment else None


def replica_state(overview: dict[str, Any], settings: Settings, now: datetime) -> RefreshState:
    """The refresh as a replica shows it, from what the warehouse says (Coordination.refresh_overview)
    at `now` (naive UTC)."""
    status = overview.get("status")
    running = False
    progress: Progress | None = None
    next_run = None
    if status is not None:
        silent = now - status["updated_at"] > SILENT_AFTER
        if status["state"] == "running" and not silent:
            running = True
            progress = _progress(status)
        elif status["state"] == "running":
            progress = Progress("failed", f"The refresh worker ({status['worker_id']} on {status['host']}) stopped "
                                          f"reporting at {status['updated_at']:%H:%M:%S} UTC during a run; the run "
                                          "resumes when a worker leads again (a standby takes over within seconds).",
                                at=_aware(status["updated_at"]))
        elif status["stage"] in ("done", "failed"):
            progress = _progress(status)
        if status["state"] == "idle":
            next_run = _aware(status["next_run_at"], settings.schedule.timezone)
    if overview["pending"] and not running:
        running = True
        waited = now - overview["pending_since"]
        message = "Refresh requested; waiting for the refresh worker to start it."
        if waited > UNCLAIMED_AFTER:
            message = (f"Refresh requested {int(waited.total_seconds())} s ago and no refresh worker has started it "
                       "yet: is `python -m clari_data worker` running?")
        progress = Progress("queued", message, at=_aware(overview["pending_since"]))
    return RefreshState(running, progress, _aware(overview["last_finished_at"]),
                        cooldown_remaining(overview["last_manual_at"], settings), next_run,
                        int(overview["runs_completed"]))


def _progress(status: dict[str, Any]) -> Progress:
    return Progress(status["stage"] or "running", status["message"] or "", forecast_id=status["forecast_id"],
                    period=status["time_period"], job_status=status["job_status"], step=status["step"] or 0,
                    steps=status["steps"] or 0, at=_aware(status["updated_at"]))
