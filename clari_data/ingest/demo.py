"""Demo mode: with no Clari key, refreshes talk to the built-in simulator over loopback.

One simulator per process serves every refresh. Its clock lives in the warehouse, so each demo
refresh (from the app or the command line) moves the simulated sales org on by a day and shows
the changes a real tenant would produce. On the first start (an empty warehouse) `backfill` loads
the history a tenant would have by then: the ended quarters, and a daily export of the current
quarter from its first day to today.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clari_data.shared.config import Settings
from clari_data.shared.periods import periods_ending_at
from clari_data.storage.warehouse import Warehouse

from .client import ClariClient
from .simulator import DEMO_API_KEY, SimulatorServer, SyntheticOrg

__all__ = ["DEMO_API_KEY", "simulator", "advance_clock", "needs_backfill", "backfill", "stop"]

# Loaded by the backfill: the Overview paces the current quarter against four, and the projection
# learns each person's habit from the quarters before the one it projects, and proves it on those
# with two or more quarters before them.
ENDED_QUARTERS = 6

_lock = threading.Lock()
_server: SimulatorServer | None = None


def simulator(settings: Settings) -> SimulatorServer:
    """The process's simulator, started on a free loopback port on first use."""
    global _server
    with _lock:
        if _server is None:
            org = SyntheticOrg(seed=settings.demo.seed, users=settings.demo.users,
                               forecasts=tuple(settings.clari.forecast_ids), past_quarters=ENDED_QUARTERS)
            _server = SimulatorServer(org, job_seconds=settings.demo.job_seconds).start()
        return _server


def advance_clock(settings: Settings, warehouse: Warehouse) -> datetime:
    """Set the simulated clock for the next refresh: now on the first, then a step further each time."""
    server = simulator(settings)
    stored = warehouse.demo_clock()
    if stored is None:
        sim_now = datetime.now(UTC)
    else:
        sim_now = stored.replace(tzinfo=UTC) + timedelta(days=settings.demo.advance_days_per_refresh)
    server.org.now = sim_now
    warehouse.set_demo_clock(sim_now)
    return sim_now


def needs_backfill(settings: Settings, warehouse: Warehouse) -> bool:
    """Demo mode on an empty warehouse: the first start. A real tenant is never backfilled."""
    return settings.demo_mode and warehouse.data_version() == 0 and warehouse.demo_clock() is None


@dataclass(frozen=True)
class Backfill:
    """What the backfill loaded, for its last progress message and the tests."""

    period: str  # the current quarter
    days: int  # daily exports of it, its first day to today
    ended: tuple[str, ...]  # the ended quarters loaded (each once, on the first day)
    failed: str | None  # why it stopped early (None: it loaded everything)
    seconds: float

    def summary(self) -> str:
        if self.failed:
            return f"Loading demo history stopped: {self.failed}"
        return (f"Loaded demo history: {self.days} daily exports of {self.period} and {len(self.ended)} ended "
                f"quarters, in {self.seconds:.0f} s.")


def backfill(settings: Settings, warehouse: Warehouse, refresh: Callable[..., Any],
             report: Callable[[str, str], None] | None = None, *, today: datetime | None = None) -> Backfill:
    """Load the simulated tenant's history through `refresh` (run_refresh: the normal path, over
    loopback HTTP), one refresh per simulated day at today's time of day: on the current quarter's
    first day the ended quarters with it, then the current quarter each day until today (UTC; now
    unless a test says otherwise). `report` gets (stage, message) progress. The simulator's jobs
    take no time meanwhile, and no notification is sent: these refreshes only rebuild a past that
    nobody was there to see."""
    say = report or (lambda stage, message: None)
    started = time.perf_counter()
    server = simulator(settings)
    today = today or datetime.now(UTC)
    server.org.now = today
    period = server.org.current_period()
    first_day = server.org.fiscal.bounds(period)[0]
    ended = tuple(periods_ending_at(period, min(ENDED_QUARTERS, server.org.past_quarters))[1:])
    moments = [today - timedelta(days=k) for k in range((today.date() - first_day).days, -1, -1)]
    step = timedelta(days=settings.demo.advance_days_per_refresh)
    job_seconds, server.job_seconds = server.job_seconds, 0.0
    client = ClariClient(server.base_url, DEMO_API_KEY, poll_interval=0.002, poll_deadline=60.0,
                         timeout=settings.clari.timeout_seconds, retry=settings.clari.retry_policy())
    failed = None
    try:
        for day, moment in enumerate(moments, 1):
            say("loading", f"Loading demo history: day {day} of {len(moments)} ({moment:%a %d %b}, simulated)")
            # The refresh moves the stored clock on by a step first (advance_clock): land on `moment`.
            warehouse.set_demo_clock(moment - step)
            result = refresh(settings, warehouse, client=client, periods=[period, *(ended if day == 1 else ())],
                             trigger="backfill")
            if result.failures:
                failed = f"day {day} of {len(moments)}: " + "; ".join(f"{o.label}: {o.error}" for o in result.failures)
                break
    finally:
        server.job_seconds = job_seconds
        client.close()
    done = Backfill(period, len(moments), ended, failed, time.perf_counter() - started)
    say("failed" if failed else "done", done.summary())
    return done


def stop() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None
