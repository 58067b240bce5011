"""The DuckDB warehouse: the only code that holds SQL or opens a connection.

One process opens the file read-write; inside it every thread gets its own cursor, and every write
goes through `Warehouse.transaction()` under one lock. SQL lives in `clari_data/sql/`: numbered
migrations (tables and their data), `views/` (each view and macro as it is now, recreated at every
open), the named statements of each concern, and `queries/` (the reads behind `query`).

- core.py: opening the file, cursors, snapshots, the transaction, migrations, views, synced settings
- loads.py: `load_export`
- runs.py: runs, attempts, export jobs, the demo clock, what a refresh asks
- notifications.py: notification state and deliveries
"""

from __future__ import annotations

from pathlib import Path

from ..config import AlertSettings, FieldRoles, Settings
from .coordination import Coordination
from .core import DATA_TABLES, DEFAULTS, SQL_DIR, Cursor, WarehouseBusy, WarehouseError, query_sql, sql_statements
from .loads import EXPORT_COLUMNS, ExportRejected, LoadResult, Loads, file_sha256
from .notifications import Notifications
from .runs import Runs

__all__ = ["DATA_TABLES", "EXPORT_COLUMNS", "SQL_DIR", "Cursor", "ExportRejected", "LoadResult", "Warehouse",
           "WarehouseBusy", "WarehouseError", "file_sha256", "query_sql", "sql_statements"]


class Warehouse(Loads, Runs, Notifications, Coordination):
    def __init__(self, path: str | Path, *, roles: FieldRoles | None = None, alerts: AlertSettings | None = None,
                 memory_limit: str | None = DEFAULTS.memory_limit, threads: int | None = None) -> None:
        super().__init__(path, roles=roles, alerts=alerts, memory_limit=memory_limit, threads=threads)
        # This process now holds the only write lock, so a run still marked 'running' belongs to a
        # process that died mid-refresh.
        self.close_abandoned_runs()

    @classmethod
    def from_settings(cls, settings: Settings) -> Warehouse:
        return cls(settings.warehouse.path, roles=settings.fields, alerts=settings.alerts,
                   memory_limit=settings.warehouse.memory_limit, threads=settings.warehouse.duckdb_threads)

    def __enter__(self) -> Warehouse:
        return self
