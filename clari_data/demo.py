"""Demo mode: with no Clari key, refreshes talk to the built-in simulator over loopback.

One simulator per process serves every refresh. Its clock lives in the warehouse, so each demo
refresh (from the app or the command line) moves the simulated sales org on by a day and shows
the changes a real tenant would produce.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from .config import Settings
from .simulator import DEMO_API_KEY, SimulatorServer, SyntheticOrg
from .warehouse import Warehouse

__all__ = ["DEMO_API_KEY", "simulator", "advance_clock", "stop"]

_lock = threading.Lock()
_server: SimulatorServer | None = None


def simulator(settings: Settings) -> SimulatorServer:
    """The process's simulator, started on a free loopback port on first use."""
    global _server
    with _lock:
        if _server is None:
            org = SyntheticOrg(seed=settings.demo.seed, users=settings.demo.users,
                               forecasts=tuple(settings.clari.forecast_ids))
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


def stop() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None
