"""What pages ask of a refresh service, whichever runs in the process: `RefreshService`
(scheduler.py: the process refreshes itself) or `ReplicaService` (replica.py: a dashboard replica
reading what the refresh worker publishes in the warehouse)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from clari_data.ingest.refresh import Progress
from clari_data.shared import access
from clari_data.shared.config import Settings
from clari_data.storage.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshState:
    """A consistent picture of the refresh service for one page render."""

    running: bool  # a run is going on, or has been asked for and not started yet (progress: "queued")
    progress: Progress | None
    last_finished_at: datetime | None
    cooldown_remaining: float  # seconds until "Refresh now" is allowed again
    next_run_at: datetime | None
    runs_completed: int  # grows with every finished run: a page that saw fewer reruns itself


@dataclass(frozen=True)
class RunRequest:
    accepted: bool
    message: str


class Service(Protocol):
    settings: Settings
    warehouse: Warehouse

    def state(self) -> RefreshState: ...

    def request_run(self, trigger: str = "manual", requested_by: str | None = None, *, sign_in: bool = False,
                    ignore_cooldown: bool = False) -> RunRequest: ...

    def stop(self) -> None: ...


def refused(settings: Settings, trigger: str, requested_by: str | None, sign_in: bool) -> RunRequest | None:
    """The answer to a manual run that `access.may_refresh` does not allow (None: allowed). Services
    check it themselves, whatever the page's button showed: a forged click on a disabled widget
    ends here."""
    if trigger != "manual":
        return None
    decision = access.may_refresh(settings, sign_in=sign_in, email=requested_by)
    if decision.allowed:
        return None
    log.warning("manual refresh refused for %s: %s", requested_by or "an anonymous visitor", decision.reason)
    return RunRequest(False, decision.reason or "Not allowed to refresh.")


def duration(seconds: float) -> str:
    seconds = int(seconds + 0.999)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
