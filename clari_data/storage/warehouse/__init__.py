"""The DuckDB warehouse: the only code that holds SQL or opens a connection.

Its tables live where its backend keeps them (clari_data/storage/backends: the embedded DuckDB file,
or a DuckLake on PostgreSQL), with the same schema, views and SQL. One process writes (the file's,
or the lake's leading worker); inside it every thread gets its own cursor, and every write goes
through `Warehouse.transaction()` or `atomically()` under one lock. SQL lives in
`clari_data/storage/sql/`: numbered migrations (tables and their data), `views/` (each view and
macro as it is now, recreated at every open), the named statements of each concern, and `queries/`
(the reads behind `query`).

- core.py: opening the backend, cursors, snapshots, the transaction, migrations, views, synced settings
- loads.py: `load_export`
- runs.py: runs, attempts, export jobs, the demo clock, what a refresh asks
- notifications.py: notification state and deliveries
- coordination.py: refresh requests and the worker's published status
"""

from __future__ import annotations

from pathlib import Path

from clari_data.shared.config import AlertSettings, FieldRoles, Settings

from ..backends import Backend
from ..base import LockUnreachable
from .coordination import Coordination
from .core import DATA_TABLES, DEFAULTS, SQL_DIR, Cursor, WarehouseBusy, WarehouseError, query_sql, sql_statements
from .loads import EXPORT_COLUMNS, ExportRejected, LoadResult, Loads, file_sha256
from .notifications import Notifications
from .runs import Runs

__all__ = ["DATA_TABLES", "EXPORT_COLUMNS", "SQL_DIR", "Cursor", "ExportRejected", "LoadResult", "LockUnreachable",
           "Warehouse", "WarehouseBusy", "WarehouseError", "file_sha256", "query_sql", "sql_statements"]


class Warehouse(Loads, Runs, Notifications, Coordination):
    def __init__(self, target: Backend | str | Path, *, roles: FieldRoles | None = None,
                 alerts: AlertSettings | None = None, memory_limit: str | None = DEFAULTS.memory_limit,
                 threads: int | None = None, writer: bool = True) -> None:
        super().__init__(target, roles=roles, alerts=alerts, memory_limit=memory_limit, threads=threads,
                         writer=writer)
        if self.writer:
            # This process now writes alone (the file's lock; a lake's writer opens it once it leads,
            # Backend.leadership), so a run still marked 'running' belongs to a process that died
            # mid-refresh.
            self.close_abandoned_runs()

    @classmethod
    def from_settings(cls, settings: Settings, *, writer: bool = True) -> Warehouse:
        """The warehouse [warehouse] names (Backend.from_settings). `writer=False` opens a shared
        backend as a dashboard replica does: no DDL, no settings written (a backend that one process
        opens is opened as its writer all the same)."""
        w = settings.warehouse
        return cls(Backend.from_settings(settings), roles=settings.fields, alerts=settings.alerts,
                   memory_limit=w.memory_limit, threads=w.duckdb_threads, writer=writer)

    def __enter__(self) -> Warehouse:
        return self
