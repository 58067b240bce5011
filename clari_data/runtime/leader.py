"""Which refresh worker leads: several may run (on several machines), exactly one refreshes.

- On a lake (`[warehouse] backend = "ducklake"`): a PostgreSQL session advisory lock in the
  catalog's database, held on a connection of its own. PostgreSQL releases it when that
  connection ends: the worker exits or is killed (kill -9 closes its socket at once), or its
  machine goes silent (the session's TCP keepalives give up on it within about 30 s). A standby
  tries again every few seconds and takes over. The lock is per database, so each lake has its
  own leader.
- On the embedded file (`backend = "duckdb"`): the file's own lock. DuckDB lets one process open
  the file read-write, so whoever opens it leads: a second worker, or a worker beside a dashboard
  of role "all", stands by until the file is free.

A standby never opens the warehouse for writing: opening it is what a leader does (it applies
migrations and marks the runs of a dead leader failed).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass, field

from clari_data.shared.config import Settings
from clari_data.shared.redact import Scrubber
from clari_data.storage.warehouse import Warehouse, WarehouseBusy, WarehouseError

log = logging.getLogger(__name__)

# One key for every worker of every lake: advisory locks belong to a database, and each lake's
# catalog has one. A fixed 63-bit number (pg_try_advisory_lock takes a bigint), from a name.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"clari-dashboard refresh worker").digest()[:8], "big") >> 1
APP_PREFIX = "clari-worker "
# Server-side keepalives for the lock's session (seconds): a leader whose machine dies without
# closing its socket loses the lock after about idle + interval x count.
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


class LockUnreachable(WarehouseError):
    """The catalog database cannot be reached to ask for the lock: worth trying again."""


@dataclass(frozen=True)
class WorkerIdentity:
    """Who a worker is, in its log, in the published status and in PostgreSQL's activity view."""

    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def describe(self) -> str:
        return f"worker {self.worker_id} on {self.host} (pid {self.pid})"


class Leadership:
    """The leader lock of one warehouse. `try_lead` takes it if free; `holder` says who has it
    (for a standby's log); `holds` checks it is still ours; `release` lets it go."""

    def try_lead(self) -> bool:
        raise NotImplementedError

    def holder(self) -> str:
        raise NotImplementedError

    def holds(self) -> bool:
        return True

    def open_warehouse(self) -> Warehouse:
        """The warehouse, opened for writing: only once leading."""
        raise NotImplementedError

    def release(self) -> None:
        pass


class FileLeadership(Leadership):
    """The embedded DuckDB file: the process that opens it read-write leads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._warehouse: Warehouse | None = None
        self._busy = "another process"

    def try_lead(self) -> bool:
        if self._warehouse is not None:
            return True
        try:
            self._warehouse = Warehouse.from_settings(self.settings)
        except WarehouseBusy as exc:
            holder = re.search(r"in use by (process \d+|another process)", str(exc))
            who = holder.group(1) if holder else "another process"
            self._busy = f"{who}, which holds {self.settings.warehouse.path},"
            return False
        return True

    def holder(self) -> str:
        return self._busy

    def open_warehouse(self) -> Warehouse:
        if self._warehouse is None:
            raise WarehouseError("the warehouse is open only to the leading worker")
        return self._warehouse

    def release(self) -> None:
        # The warehouse belongs to whoever opened it for the run (the worker closes it).
        self._warehouse = None


def catalog_conninfo(settings: Settings) -> str:
    """The libpq keyword string of the lake's catalog database ([warehouse] catalog without its
    "postgres:" prefix; never a password: that is passed apart)."""
    catalog = settings.warehouse.catalog or ""
    return catalog.removeprefix("postgres:").strip()


class PostgresLeadership(Leadership):
    """A session advisory lock in the lake's catalog database, on a connection of its own."""

    def __init__(self, settings: Settings, identity: WorkerIdentity, *, connect_timeout: int = 10) -> None:
        self.settings = settings
        self.identity = identity
        self.connect_timeout = connect_timeout
        password = settings.warehouse.password
        self._password = password.reveal() if password else None
        self._scrub = Scrubber([self._password] if self._password else [])
        self._con = None

    @property
    def application_name(self) -> str:
        # What other sessions see in pg_stat_activity: a standby names the leader from it.
        return f"{APP_PREFIX}{self.identity.worker_id} on {self.identity.host} (pid {self.identity.pid})"[:63]

    def _connect(self):
        import psycopg

        options = {"password": self._password} if self._password else {}
        try:
            con = psycopg.connect(catalog_conninfo(self.settings), autocommit=True,
                                  application_name=self.application_name, connect_timeout=self.connect_timeout,
                                  keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                                  **options)
        except psycopg.Error as exc:
            raise LockUnreachable(f"cannot reach the lake's catalog database ({catalog_conninfo(self.settings)}) "
                                 f"for the leader lock: {self._scrub(str(exc).strip())}") from None
        for name, seconds in KEEPALIVE.items():
            con.execute(f"SET {name} = {int(seconds)}")
        return con

    def try_lead(self) -> bool:
        import psycopg

        if self._con is not None and self.holds():
            return True
        self._drop()
        con = self._connect()
        try:
            if con.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]:
                self._con = con
                return True
        except psycopg.Error as exc:
            con.close()
            raise LockUnreachable(f"the leader lock could not be asked for: {self._scrub(str(exc).strip())}") from None
        # A standby keeps no connection open between tries: it would hold a slot of the
        # database's max_connections for nothing.
        self._holder = self._read_holder(con)
        con.close()
        return False

    def _read_holder(self, con) -> str:
        try:
            row = con.execute(
                "SELECT a.application_name, a.client_addr::text, a.pid FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid::bigint = %s AND l.objid::bigint = %s",
                [(LOCK_KEY >> 32) & 0xFFFFFFFF, LOCK_KEY & 0xFFFFFFFF]).fetchone()
        except Exception:  # the holder is only for the log
            row = None
        if not row:
            return "another worker"
        name, address, backend = row
        if name and name.startswith(APP_PREFIX):
            return f"worker {name.removeprefix(APP_PREFIX)}"
        return f"another process (PostgreSQL backend {backend}{f' from {address}' if address else ''})"

    _holder = "another worker"

    def holder(self) -> str:
        return self._holder

    def holds(self) -> bool:
        if self._con is None:
            return False
        try:
            self._con.execute("SELECT 1").fetchone()
            return True
        except Exception:  # the connection is gone, and the lock with it
            return False

    def open_warehouse(self) -> Warehouse:
        if self._con is None:
            raise WarehouseError("the warehouse is open for writing only to the leading worker")
        return Warehouse.from_settings(self.settings)

    def _drop(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except Exception:
                pass

    def release(self) -> None:
        # Closing the session releases its advisory locks.
        self._drop()


def leadership_for(settings: Settings, identity: WorkerIdentity) -> Leadership:
    if settings.warehouse.backend == "ducklake":
        return PostgresLeadership(settings, identity)
    return FileLeadership(settings)
