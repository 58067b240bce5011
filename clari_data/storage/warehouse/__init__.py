"""The DuckDB warehouse: the only code that holds SQL or opens a connection.

Its tables live in the embedded DuckDB file ([warehouse] backend = "duckdb") or in a DuckLake on
PostgreSQL ("ducklake", lake.py), with the same schema, views and SQL. One process writes (the
file's, or the lake's leading worker); inside it every thread gets its own cursor, and every write
goes through `Warehouse.transaction()` or `atomically()` under one lock. SQL lives in
`clari_data/storage/sql/`: numbered migrations (tables and their data), `views/` (each view and
macro as it is now, recreated at every open), the named statements of each concern, and `queries/`
(the reads behind `query`).

- core.py: opening the file or lake, cursors, snapshots, the transaction, migrations, views, synced settings
- lake.py: the DuckLake backend: extensions from the wheels, attaching, its messages, the migrations' translation
- loads.py: `load_export`
- runs.py: runs, attempts, export jobs, the demo clock, what a refresh asks
- notifications.py: notification state and deliveries
"""

from __future__ import annotations

from pathlib import Path

from clari_data.shared.config import AlertSettings, FieldRoles, Settings

from .coordination import Coordination
from .core import DATA_TABLES, DEFAULTS, SQL_DIR, Cursor, WarehouseBusy, WarehouseError, query_sql, sql_statements
from .lake import Lake
from .loads import EXPORT_COLUMNS, ExportRejected, LoadResult, Loads, file_sha256
from .notifications import Notifications
from .runs import Runs

__all__ = ["DATA_TABLES", "EXPORT_COLUMNS", "SQL_DIR", "Cursor", "ExportRejected", "Lake", "LoadResult", "Warehouse",
           "WarehouseBusy", "WarehouseError", "file_sha256", "query_sql", "sql_statements"]


class Warehouse(Loads, Runs, Notifications, Coordination):
    def __init__(self, path: str | Path | Lake, *, roles: FieldRoles | None = None,
                 alerts: AlertSettings | None = None, memory_limit: str | None = DEFAULTS.memory_limit,
                 threads: int | None = None, writer: bool = True) -> None:
        super().__init__(path, roles=roles, alerts=alerts, memory_limit=memory_limit, threads=threads, writer=writer)
        if writer:
            # This process now writes alone (the file's lock; a lake's writer opens it once it leads,
            # clari_data/runtime/leader.py), so a run still marked 'running' belongs to a process that died
            # mid-refresh.
            self.close_abandoned_runs()

    @classmethod
    def from_settings(cls, settings: Settings, *, writer: bool = True) -> Warehouse:
        """The warehouse [warehouse] names: the file at `path`, or the lake (backend = "ducklake").
        `writer=False` opens a lake as a dashboard replica does: no DDL, no settings written."""
        w = settings.warehouse
        target: str | Lake = Lake.from_settings(w) if w.backend == "ducklake" else w.path
        return cls(target, roles=settings.fields, alerts=settings.alerts, memory_limit=w.memory_limit,
                   threads=w.duckdb_threads, writer=writer)

    def __enter__(self) -> Warehouse:
        return self
