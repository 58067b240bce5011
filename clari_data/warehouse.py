"""The DuckDB warehouse: schema migrations, atomic export loads with history, run bookkeeping.

One process opens the file read-write; inside it every thread gets its own cursor. SQL lives in
`sql/` (migrations, the load's statements, the pages' queries) and is always parameterised.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import duckdb

from .config import AlertSettings, FieldRoles, Settings

if TYPE_CHECKING:  # DuckDB imports pandas itself when a query result becomes a DataFrame
    import pandas as pd

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent / "sql"
_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)

# How the result document is read: amounts as JSON (validated in SQL), unknown keys ignored.
EXPORT_COLUMNS = {
    "entries": "STRUCT(userId VARCHAR, fieldId VARCHAR, timePeriodId VARCHAR, timeFrameId VARCHAR,"
    " forecastValue JSON, quotaValue JSON, adjustmentValue JSON, aggregationTotal JSON,"
    " isUpdated JSON, updatedBy VARCHAR, updatedOn JSON, adjustedBy VARCHAR, adjustedOn JSON,"
    " currency STRUCT(code VARCHAR, symbol VARCHAR))[]",
    "users": "STRUCT(userId VARCHAR, name VARCHAR, email VARCHAR, crmId VARCHAR, hierarchyId VARCHAR,"
    " hierarchyName VARCHAR, parentHierarchyId VARCHAR, parentHierarchyName VARCHAR, scopeId VARCHAR)[]",
    "fields": "STRUCT(fieldId VARCHAR, fieldName VARCHAR, fieldType VARCHAR)[]",
    "timePeriods": "STRUCT(timePeriodId VARCHAR, label VARCHAR, year VARCHAR, type VARCHAR,"
    " startDate VARCHAR, endDate VARCHAR, crmId VARCHAR)[]",
    "timeFrames": "STRUCT(timeFrameId VARCHAR, startDate VARCHAR, endDate VARCHAR)[]",
}

DATA_TABLES = ("exports", "users", "fields", "time_periods", "time_frames", "cell_versions", "changes")


class WarehouseError(RuntimeError):
    """A warehouse problem, phrased for the person who has to act on it."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse file."""


class ExportRejected(WarehouseError):
    """The export is not loadable; the warehouse was left exactly as it was."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LoadResult:
    status: str  # 'loaded' or 'unchanged'
    export_id: int
    time_period: str
    entries: int = 0
    cells: int = 0
    cells_added: int = 0
    cells_changed: int = 0
    cells_removed: int = 0
    changes_detected: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


@cache
def sql_statements(relative_path: str) -> dict[str, str]:
    """The statements of a .sql file under sql/, by their `-- name:` markers (or the file's stem)."""
    text = (SQL_DIR / relative_path).read_text()
    parts = _NAME_RE.split(text)
    if len(parts) == 1:
        return {Path(relative_path).stem: text}
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def query_sql(name: str) -> str:
    return sql_statements(f"queries/{name}.sql")[name]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _busy_message(path: Path, exc: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(exc))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"The warehouse {path} is in use by {holder} (the dashboard server or another refresh). "
        "Only one process may write it: stop that process, or use \"Refresh now\" in the running dashboard."
    )


class Warehouse:
    def __init__(self, path: str | Path, *, roles: FieldRoles = FieldRoles(), memory_limit: str | None = None) -> None:
        self.path = Path(path)
        # Distinguishes this open warehouse from any other in the process, for result caches.
        self.cache_token = f"{self.path.resolve() if str(path) != ':memory:' else path}:{uuid.uuid4().hex}"
        self._roles = roles
        self._cursor_lock = threading.Lock()
        self._write_lock = threading.RLock()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config = {"memory_limit": memory_limit} if memory_limit else {}
        try:
            self._con = duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WarehouseBusy(_busy_message(self.path, exc)) from None
            raise WarehouseError(f"cannot open the warehouse {self.path}: {exc}") from None
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open the warehouse {self.path}: {exc}. If the file is damaged, move it aside; "
                "the next refresh rebuilds it from Clari."
            ) from None
        self._migrate()
        self._sync_roles()
        # This process now holds the only write lock, so a run still marked 'running' belongs to a
        # process that died mid-refresh.
        self.close_abandoned_runs()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Warehouse":
        return cls(settings.warehouse.path, roles=settings.fields, memory_limit=settings.warehouse.memory_limit)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections ------------------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for the calling thread; one connection object is not thread-safe."""
        with self._cursor_lock:
            return self._con.cursor()

    @contextmanager
    def snapshot(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one read transaction: every query through it sees the same export."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        finally:
            cur.execute("ROLLBACK")
            cur.close()

    def query(self, name: str, cursor: duckdb.DuckDBPyConnection | None = None, **params: Any) -> "pd.DataFrame":
        """Run sql/queries/<name>.sql with named parameters; the result is fully materialised."""
        cur = cursor or self.cursor()
        try:
            return cur.execute(query_sql(name), params).df()
        finally:
            if cursor is None:
                cur.close()

    def query_row(self, name: str, cursor: duckdb.DuckDBPyConnection | None = None, **params: Any) -> dict[str, Any]:
        """The single row of sql/queries/<name>.sql as plain Python values (None for NULL)."""
        cur = cursor or self.cursor()
        try:
            result = cur.execute(query_sql(name), params)
            names = [d[0] for d in result.description]
            return dict(zip(names, result.fetchone()))
        finally:
            if cursor is None:
                cur.close()

    def scalar(self, sql: str, params: Any = None) -> Any:
        cur = self.cursor()
        try:
            row = cur.execute(sql, params or []).fetchone()
            return row[0] if row else None
        finally:
            cur.close()

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        cur = self.cursor()
        try:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            applied = {row[0] for row in cur.execute("SELECT version FROM schema_migrations").fetchall()}
            for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
                version = int(path.name.split("_", 1)[0])
                if version in applied:
                    continue
                log.info("applying migration %s", path.name)
                cur.execute("BEGIN TRANSACTION")
                try:
                    cur.execute(path.read_text())
                    cur.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, path.name, _utcnow()]
                    )
                    cur.execute("COMMIT")
                except Exception:
                    cur.execute("ROLLBACK")
                    raise
        finally:
            cur.close()

    def _sync_roles(self) -> None:
        roles = [(name, getattr(self._roles, name)) for name in FieldRoles.__dataclass_fields__]
        with self._write_lock:
            cur = self.cursor()
            try:
                current = sorted(cur.execute("SELECT role, field_id FROM field_roles").fetchall())
                if current == sorted(roles):
                    return
                cur.execute("BEGIN TRANSACTION")
                cur.execute("DELETE FROM field_roles")
                cur.executemany("INSERT INTO field_roles VALUES (?, ?)", roles)
                # Which field plays which role decides every row of current_role_values.
                stmts = sql_statements("load.sql")
                cur.execute(stmts["clear_role_values"])
                cur.execute(stmts["rebuild_role_values"])
                cur.execute("COMMIT")
            finally:
                cur.close()

    # -- loading ----------------------------------------------------------------------------

    def load_export(
        self,
        path: str | Path,
        *,
        forecast_id: str,
        job_id: str,
        requested_period: str | None,
        exported_at: datetime | None = None,
        rows_truncated: bool = False,
        thresholds: AlertSettings = AlertSettings(),
    ) -> LoadResult:
        """Load one downloaded export in a single transaction.

        Raises ExportRejected (warehouse untouched) when the file cannot be trusted. Loading the
        same job, or a file identical to the latest export of its forecast and period, changes
        nothing and returns status 'unchanged'.
        """
        path = Path(path)
        exported_at = (exported_at or _utcnow()).replace(tzinfo=None)
        stmts = sql_statements("load.sql")
        with self._write_lock:
            cur = self.cursor()
            try:
                known = cur.execute(
                    "SELECT export_id, time_period FROM exports WHERE job_id = ?", [job_id]
                ).fetchone()
                if known:
                    return LoadResult("unchanged", known[0], known[1])
                size = path.stat().st_size
                sha = file_sha256(path)
                cur.execute("BEGIN TRANSACTION")
                try:
                    result = self._load(cur, stmts, path, size, sha, forecast_id, job_id,
                                        requested_period, exported_at, rows_truncated, thresholds)
                except duckdb.OutOfMemoryException as exc:
                    cur.execute("ROLLBACK")
                    raise WarehouseError(self._out_of_memory(cur, path, size, exc)) from None
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                if result.status == "loaded":
                    cur.execute("COMMIT")
                else:
                    cur.execute("ROLLBACK")
                return result
            finally:
                cur.close()

    def _load(self, cur, stmts, path, size, sha, forecast_id, job_id, requested_period, exported_at,
              rows_truncated, thresholds) -> LoadResult:
        try:
            cur.execute(stmts["read_document"], {
                "path": str(path), "columns": EXPORT_COLUMNS, "max_object_size": max(size + 1024, 1 << 24),
            })
        except duckdb.OutOfMemoryException:
            raise  # the file may be fine: the memory cap is too tight (load_export says so)
        except duckdb.Error as exc:
            detail = str(exc).splitlines()[0][:200]
            raise ExportRejected("invalid_json", f"the export file is not valid JSON or not Clari's shape ({detail})") from None
        doc = dict(zip(
            ("documents", "no_entries", "no_users", "no_fields", "no_periods", "no_frames", "entries", "time_period"),
            cur.execute(stmts["describe_document"]).fetchone(),
        ))
        if doc["documents"] != 1:
            raise ExportRejected("invalid_json", "the export file does not hold exactly one result document")
        missing = [name for key, name in (("no_entries", "entries"), ("no_users", "users"), ("no_fields", "fields"),
                                          ("no_periods", "timePeriods"), ("no_frames", "timeFrames")) if doc[key]]
        if missing:
            raise ExportRejected("missing_list", f"the export has no '{missing[0]}' list; it was not loaded")
        period = doc["time_period"]
        if requested_period and period != requested_period:
            raise ExportRejected(
                "period_fallback",
                f"Clari returned {period} instead of the requested {requested_period} (Clari falls back to the "
                f"current quarter for a period it does not recognise); not loaded. Check that {requested_period} "
                "exists in your Clari fiscal calendar.",
            )
        if rows_truncated:
            raise ExportRejected(
                "truncated",
                f"Clari cut the export of {forecast_id} {period} short (rowsTruncated); a partial forecast was not "
                "loaded. Narrow the export (scope_id) or ask your Clari CSM about the row limit.",
            )
        if not doc["entries"]:
            raise ExportRejected("empty", f"the export of {forecast_id} {period} came back with no entries; not loaded")
        latest = cur.execute(
            "SELECT export_id, file_sha256 FROM exports WHERE forecast_id = ? AND time_period = ? "
            "ORDER BY export_id DESC LIMIT 1", [forecast_id, period]).fetchone()
        if latest and latest[1] == sha:
            return LoadResult("unchanged", latest[0], period, entries=doc["entries"])

        params = {"forecast_id": forecast_id, "time_period": period}
        cur.execute(stmts["stage_entries"])
        found = cur.execute(stmts["entry_problems"], {"time_period": period})
        problems = dict(zip([d[0] for d in found.description], found.fetchone()))
        warnings = _warnings(problems)
        cur.execute(stmts["stage_cells"], params)
        cells, users, weeks = cur.execute(
            "SELECT count(*), count(DISTINCT user_id), count(DISTINCT time_frame_id) FROM stage_cells").fetchone()
        if cells == 0:
            raise ExportRejected("no_valid_entries",
                                 f"none of the {doc['entries']} entries of {forecast_id} {period} could be loaded: "
                                 + "; ".join(warnings))

        export_id = cur.execute("SELECT coalesce(max(export_id), 0) + 1 FROM exports").fetchone()[0]
        previous = latest[0] if latest else None
        ids = {"export_id": export_id, "time_period": period}
        for name in ("upsert_users", "upsert_fields"):
            cur.execute(stmts[name], {"export_id": export_id})
        cur.execute(stmts["upsert_periods"], {"time_period": period})
        cur.execute(stmts["upsert_frames"], {"time_period": period})
        added, changed, removed = cur.execute(stmts["diff_counts"], params).fetchone()
        significant = 0
        if previous is not None:
            cur.execute(stmts["detect_changes"], {
                **params, **ids, "previous_export_id": previous,
                "change_pct": thresholds.change_pct, "change_min_amount": thresholds.change_min_amount,
            })
            significant = cur.execute(
                "SELECT count(*) FROM changes WHERE export_id = ? AND is_significant", [export_id]).fetchone()[0]
        cur.execute(stmts["close_versions"], {**params, "export_id": export_id})
        cur.execute(stmts["open_versions"], {**params, "export_id": export_id})
        # The pages' role pivot (migration 004) follows the new versions, in the same transaction.
        for name in ("stage_role_values", "delete_role_values", "insert_role_values"):
            cur.execute(stmts[name], params)
        cur.execute(
            "INSERT INTO exports VALUES (?, ?, ?, ?, ?, 'loaded', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [export_id, job_id, forecast_id, period, requested_period, exported_at, _utcnow(), sha, size,
             doc["entries"], cells, users, weeks, added, changed, removed, significant, rows_truncated, warnings],
        )
        cur.execute(stmts["drop_stage"])
        log.info("loaded export %s of %s %s: %d cells (%d new, %d changed, %d removed), %d changes",
                 export_id, forecast_id, period, cells, added, changed, removed, significant)
        return LoadResult("loaded", export_id, period, doc["entries"], cells, added, changed, removed,
                          significant, tuple(warnings))

    @staticmethod
    def _out_of_memory(cur, path: Path, size: int, exc: Exception) -> str:
        limit = cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        detail = str(exc).splitlines()[0][:200]
        return (f"DuckDB ran out of memory loading the {size / 1e6:,.1f} MB export {path.name} under its memory "
                f"limit of {limit} ({detail}). Raise [warehouse] memory_limit (reading an export takes several "
                "times its size) or give the process more memory; the downloaded file is kept, so the next "
                "refresh loads it without a new export.")

    # -- jobs in flight ---------------------------------------------------------------------

    def in_flight_job(self, forecast_id: str, requested_period: str | None) -> str | None:
        return self.scalar(
            "SELECT job_id FROM export_jobs WHERE forecast_id = ? AND requested_period IS NOT DISTINCT FROM ? "
            "AND status = 'in_flight' ORDER BY queued_at DESC LIMIT 1", [forecast_id, requested_period])

    def remember_job(self, job_id: str, forecast_id: str, requested_period: str | None) -> None:
        now = _utcnow()
        self._write("INSERT OR REPLACE INTO export_jobs VALUES (?, ?, ?, ?, 'in_flight', ?)",
                    [job_id, forecast_id, requested_period, now, now])

    def set_job_status(self, job_id: str, status: str) -> None:
        self._write("UPDATE export_jobs SET status = ?, updated_at = ? WHERE job_id = ?", [status, _utcnow(), job_id])

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, trigger: str, requested_by: str | None = None, pid: int | None = None) -> int:
        with self._write_lock:
            # Ids are max + 1 under the write lock (one writing process per file), not sequences:
            # after a crash DuckDB replays committed rows from the WAL but not a sequence's state,
            # so a sequence would hand out an id that a replayed row already holds.
            cur = self.cursor()
            try:
                return cur.execute(
                    "INSERT INTO runs (run_id, trigger, requested_by, started_at, outcome, pid) "
                    "SELECT coalesce(max(run_id), 0) + 1, ?, ?, ?, 'running', ? FROM runs RETURNING run_id",
                    [trigger, requested_by, _utcnow(), pid]).fetchone()[0]
            finally:
                cur.close()

    def record_attempt(self, run_id: int, *, forecast_id: str, requested_period: str | None, started_at: datetime,
                       status: str, time_period: str | None = None, job_id: str | None = None,
                       export_id: int | None = None, failure_kind: str | None = None,
                       error: str | None = None, warnings: tuple[str, ...] = ()) -> None:
        self._write("INSERT INTO export_attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, forecast_id, requested_period, time_period, job_id, started_at, _utcnow(), status,
                     export_id, failure_kind, error, list(warnings)])

    def finish_run(self, run_id: int, *, outcome: str, exports_loaded: int = 0, rows_loaded: int = 0,
                   changes_detected: int = 0, error: str | None = None) -> None:
        self._write("UPDATE runs SET finished_at = ?, outcome = ?, exports_loaded = ?, rows_loaded = ?, "
                    "changes_detected = ?, error = ? WHERE run_id = ?",
                    [_utcnow(), outcome, exports_loaded, rows_loaded, changes_detected, error, run_id])

    def close_abandoned_runs(self) -> None:
        """Runs left 'running' by a process that died cannot finish: record them as failed."""
        self._write("UPDATE runs SET outcome = 'failed', finished_at = coalesce(finished_at, ?), "
                    "error = 'the refresh process stopped before the run finished' WHERE outcome = 'running'",
                    [_utcnow()])

    # -- versions and demo state ------------------------------------------------------------

    def data_version(self) -> int:
        """Changes whenever a load commits: the key for every cached query result."""
        return int(self.scalar("SELECT coalesce(max(export_id), 0) FROM exports"))

    def demo_clock(self) -> datetime | None:
        return self.scalar("SELECT sim_now FROM demo_clock WHERE id = 1")

    def set_demo_clock(self, sim_now: datetime) -> None:
        self._write("INSERT OR REPLACE INTO demo_clock VALUES (1, ?)", [sim_now.replace(tzinfo=None)])

    def table_contents(self, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, list[tuple]]:
        """Every row of the data tables, sorted: what 'the warehouse holds the same data' compares."""
        cur = self.cursor()
        try:
            return {t: sorted(cur.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
        finally:
            cur.close()

    def _write(self, sql: str, params: list[Any]) -> None:
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute(sql, params)
            finally:
                cur.close()


def _warnings(problems: dict[str, Any]) -> list[str]:
    texts = {
        "non_numeric": "{n} amount(s) were not numbers and were loaded as empty",
        "out_of_range": "{n} amount(s) were not finite or implausibly large (>= 1e15) and were loaded as empty",
        "negative": "{n} amount(s) were negative (loaded as sent)",
        "missing_keys": "{n} entr(y/ies) lacked a user, field or week id and were skipped",
        "other_period": "{n} entr(y/ies) belonged to another period and were skipped",
        "unknown_users": "{n} entr(y/ies) named a user not in the export's user list and were skipped",
        "unknown_fields": "{n} entr(y/ies) named a field not in the export's field list and were skipped",
        "unknown_weeks": "{n} entr(y/ies) named a week not in the export's week list and were skipped",
        "duplicates": "{n} duplicate entr(y/ies) for the same cell were skipped (the first was kept)",
    }
    return [texts[k].format(n=int(v)) for k, v in problems.items() if v and int(v) > 0]
