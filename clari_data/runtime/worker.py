"""The refresh worker, `python -m clari_data worker`: the schedule and every refresh, the only writer.

Dashboard replicas ([server] role = "web") share nothing with it but the warehouse: "Refresh now"
leaves a request there (clari_data/runtime/replica.py), and the worker publishes what it is doing there.
Several workers may run; one leads (clari_data/runtime/leader.py) and the others stand by, each saying
once in its log who leads. The leader:

- opens the warehouse for writing (migrations, and a dead leader's run marked failed) and runs
  the refresh service of a single-process dashboard (clari_data/runtime/scheduler.py: the schedule, one
  run at a time, the startup refresh of an empty warehouse, notifications after each run);
- looks for requests every `poll_seconds` and, when no run is going on, claims every pending one
  for a single run: presses in many replicas at once give one export;
- publishes its status (stage, message, step of steps, its next scheduled run) at most every
  `publish_seconds` (each write is a commit, on a lake a snapshot), and at least every
  `heartbeat_seconds` while a run goes on, so replicas can tell a silent worker from a slow job;
- when the previous leader died mid-run (its status still says running), refreshes at once: the
  refresh polls the Clari jobs that leader stored instead of queuing new exports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import duckdb

from clari_data.ingest.refresh import Progress, RefreshResult, run_refresh
from clari_data.shared.config import Settings
from clari_data.shared.timeutil import naive_utc
from clari_data.storage.backends import Leadership
from clari_data.storage.warehouse import LockUnreachable, Warehouse, WarehouseError

from .leader import WorkerIdentity, leadership_for
from .scheduler import RefreshService, RefreshState

log = logging.getLogger(__name__)

EXIT_STOPPED, EXIT_LOST = 0, 4


class Worker:
    def __init__(self, settings: Settings, *, identity: WorkerIdentity | None = None,
                 leadership: Leadership[Warehouse] | None = None, refresh: Callable[..., RefreshResult] = run_refresh,
                 poll_seconds: float = 1.0, standby_seconds: float = 5.0, publish_seconds: float = 2.0,
                 heartbeat_seconds: float = 10.0) -> None:
        self.settings = settings
        self.identity = identity or WorkerIdentity()
        self.leadership = leadership or leadership_for(settings, self.identity)
        self._refresh = refresh
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        self.publish_seconds = publish_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.service: RefreshService | None = None
        self.leading = threading.Event()  # set once this worker leads (tests wait on it)
        self._published: tuple | None = None
        self._published_at = 0.0
        self._leading_since = None

    # -- standing by ------------------------------------------------------------------------

    def _wait_to_lead(self, stop: threading.Event) -> bool:
        said = None
        while not stop.is_set():
            level = logging.INFO
            try:
                if self.leadership.try_lead():
                    return True
                news = f"standing by: {self.leadership.holder()} leads"
            except LockUnreachable as exc:  # PostgreSQL restarting, say: keep trying (other errors end the worker)
                news, level = f"standing by: {exc}", logging.WARNING
            if news != said:  # once per change, not every few seconds
                log.log(level, "%s %s; trying again every %g s", self.identity.describe(), news, self.standby_seconds)
                said = news
            stop.wait(self.standby_seconds)
        return False

    # -- leading ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        """Stand by until leading, then lead until `stop` is set (returns EXIT_STOPPED) or the lock
        is lost (EXIT_LOST: the caller must end the process at once, since a refresh may still be
        running and another worker may lead by now)."""
        if not self._wait_to_lead(stop):
            return EXIT_STOPPED
        try:
            warehouse = self.leadership.open_warehouse()
        except BaseException:
            self.leadership.release()
            raise
        self._leading_since = naive_utc()
        log.info("%s leads: it runs the schedule and every refresh", self.identity.describe())
        try:
            return self._lead(warehouse, stop)
        finally:
            self.leadership.release()

    def _lead(self, warehouse: Warehouse, stop: threading.Event) -> int:
        previous = warehouse.worker_status()
        service = self.service = RefreshService(self.settings, warehouse, self._refresh)
        service.start(refresh_if_empty=True)
        if previous and previous["state"] == "running":
            log.warning("the previous leader (worker %s on %s) stopped during a run: refreshing now, polling the "
                        "Clari jobs it left instead of queuing new ones", previous["worker_id"], previous["host"])
            service.request_run("resume", None, ignore_cooldown=True)
        self.leading.set()
        self._publish(service.state(), force=True)
        next_poll = 0.0
        try:
            while not stop.is_set():
                if not self.leadership.holds():
                    log.error("%s lost the leader lock (its connection to the catalog database ended): stopping "
                              "at once, so that two workers never refresh together", self.identity.describe())
                    return EXIT_LOST
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + self.poll_seconds
                    self._take_requests(warehouse, service)
                self._publish(service.state())
                stop.wait(min(0.25, self.poll_seconds))
            if service.state().running:
                log.info("stopping: waiting for the running refresh to end (kill the process to stop at once; "
                         "the next leader then polls its Clari jobs again)")
            service.drain()  # no new run starts; a running one ends first
            self._publish(service.state(), force=True, stopped=True)
            service.stop()
            return EXIT_STOPPED
        finally:
            self.leading.clear()
            if not service._stopped:
                service.stop()

    def _take_requests(self, warehouse: Warehouse, service: RefreshService) -> None:
        """Claim every pending request when no run is going on, and start one run for those made
        since the last run started."""
        if service.state().running:
            return
        starting = self._identity_fields() | _content(RefreshState(True, Progress("queued", "refresh queued"), None,
                                                                   0.0, None, 0))
        try:
            claimed, to_run = warehouse.claim_refresh_requests(
                self.identity.worker_id, starting, cooldown_seconds=self.settings.schedule.manual_cooldown_seconds)
        except (WarehouseError, duckdb.Error) as exc:  # retried at the next poll (a lake's commit may conflict)
            log.warning("could not read refresh requests: %s", exc)
            return
        if not claimed:
            return
        first = claimed[0]
        if not to_run:
            log.info("%d refresh request(s) (first from %s at %s) were made before the last run started, or within "
                     "the manual cool-down after it: that run answered them", len(claimed), first["origin"],
                     first["requested_at"])
            return
        # The claim published a status: the next is due as for any other (and says what the service does).
        self._published, self._published_at = None, time.monotonic()
        requested_by = next((r["requested_by"] for r in to_run if r["requested_by"]), None)
        answer = service.request_run(to_run[0]["trigger"], requested_by, ignore_cooldown=True)
        log.info("claimed %d refresh request(s) (first from %s at %s): %s", len(claimed), first["origin"],
                 first["requested_at"], answer.message)

    # -- publishing -------------------------------------------------------------------------

    def _identity_fields(self) -> dict[str, Any]:
        return {"worker_id": self.identity.worker_id, "host": self.identity.host, "pid": self.identity.pid,
                "leading_since": self._leading_since, "updated_at": naive_utc()}

    def _publish(self, state: RefreshState, *, force: bool = False, stopped: bool = False) -> None:
        content = _content(state, stopped=stopped)
        key = tuple(content.values())
        now = time.monotonic()
        since = now - self._published_at
        due = key != self._published and since >= self.publish_seconds
        heartbeat = state.running and since >= self.heartbeat_seconds
        if not (force or due or heartbeat):
            return
        try:
            self.service.warehouse.publish_worker_status(**self._identity_fields(), **content)
        except (WarehouseError, duckdb.Error) as exc:  # tried again at the next tick
            log.warning("could not publish the worker's status: %s", exc)
            return
        self._published, self._published_at = key, now


def _content(state: RefreshState, *, stopped: bool = False) -> dict[str, Any]:
    """The refresh service's state as the worker_status columns hold it."""
    p = state.progress
    return {
        "state": "stopped" if stopped else "running" if state.running else "idle",
        "stage": p.stage if p else None, "message": p.message if p else None,
        "forecast_id": p.forecast_id if p else None, "time_period": p.period if p else None,
        "job_status": p.job_status if p else None, "step": p.step if p else None, "steps": p.steps if p else None,
        "last_finished_at": naive_utc(state.last_finished_at) if state.last_finished_at else None,
        "next_run_at": naive_utc(state.next_run_at) if state.next_run_at else None,
    }
