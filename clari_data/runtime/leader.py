"""Which process writes: several refresh workers may run (on several machines), exactly one
refreshes; a dashboard of role "all" and a command-line refresh write only as that one would.

The lock is the backend's (Backend.leadership, clari_data/storage/backends):

- on a lake: a PostgreSQL session advisory lock in the catalog's database, held on a connection of
  its own, released when that connection ends (the worker exits, is killed, or its machine goes
  silent). A standby tries again every few seconds and takes over. Each lake has its own leader.
- on the embedded file: the file's own lock. DuckDB lets one process open the file read-write, so
  whoever opens it leads: a second worker, or a worker beside a dashboard of role "all", stands by
  until the file is free.

A standby never opens the warehouse for writing: opening it is what a leader does (it applies
migrations and marks the runs of a dead leader failed).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from clari_data.shared.config import Settings
from clari_data.storage.backends import Backend, Leadership
from clari_data.storage.warehouse import Warehouse


@dataclass(frozen=True)
class WorkerIdentity:
    """Who a worker is, in its log, in the published status and in PostgreSQL's activity view."""

    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def who(self) -> str:
        return f"{self.worker_id} on {self.host} (pid {self.pid})"

    def describe(self) -> str:
        return f"worker {self.who}"


def leadership_for(settings: Settings, identity: WorkerIdentity) -> Leadership[Warehouse]:
    """How this process becomes the writer of the warehouse the settings name: the one place that
    asks, for the worker, a dashboard of role "all" and a command-line refresh alike."""
    return Backend.from_settings(settings).leadership(lambda: Warehouse.from_settings(settings), identity.who)
