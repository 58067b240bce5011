"""The connection: opening the file, cursors, read snapshots, the one write lock and transaction,
migrations, the views, and the settings the views read."""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..config import AlertSettings, FieldRoles, WarehouseSettings
from ..timeutil import naive_utc

if TYPE_CHECKING:  # DuckDB imports pandas itself when a query result becomes a DataFrame
    import pandas as pd

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parent.parent / "sql"
_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)

DATA_TABLES = ("exports", "users", "fields", "time_periods", "time_frames", "cell_versions", "changes")

Cursor = duckdb.DuckDBPyConnection


class WarehouseError(RuntimeError):
    """A warehouse problem, phrased for the person who has to act on it."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse file."""


@cache
def sql_statements(relative_path: str) -> dict[str, str]:
    """The statements of a .sql file under sql/, by their `-- name:` markers (or the file's stem)."""
    text = (SQL_DIR / relative_path).read_text()
    parts = _NAME_RE.split(text)
    if len(parts) == 1:
        return {Path(relative_path).stem: text}
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def query_sql(name: str) -> str:
    """sql/queries/<name>.sql: the reads the pages and operations run through `query`."""
    return sql_statements(f"queries/{name}.sql")[name]


def _core(name: str) -> str:
    return sql_statements("core.sql")[name]


def _busy_message(path: Path, exc: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(exc))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return (
        f"The warehouse {path} is in use by {holder} (the dashboard server or another refresh). "
        "Only one process may write it: stop that process, or use \"Refresh now\" in the running dashboard."
    )


def _newer_file_message(path: Path) -> str:
    return (
        f"The warehouse {path} was written by a newer DuckDB (2.0) than this dashboard runs "
        f"({duckdb.__version__}, the newest whose DuckLake and PostgreSQL extensions install from PyPI). "
        f"Nothing in it was changed. To keep its history, convert it: scripts/convert-warehouse {path} "
        "(the original stays beside it). Or move it aside and the next refresh rebuilds it from Clari, "
        "without the history of past exports."
    )


def _absolute_memory_limit(limit: str) -> str:
    """DuckDB 1.5 takes only sizes: a share of memory ("50%") becomes that share of this machine's."""
    text = limit.strip()
    if not text.endswith("%"):
        return text
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{int(total * float(text[:-1]) / 100) // (1 << 20)}MiB"


# A warehouse opened by path alone gets the [warehouse] defaults, so that it and one opened from
# default settings share DuckDB's instance (DuckDB refuses a second configuration for one file).
DEFAULTS = WarehouseSettings()


class WarehouseCore:
    """One process opens the file read-write; inside it every thread gets its own cursor, and
    every write goes through `transaction()`, under one lock."""

    def __init__(self, path: str | Path, *, roles: FieldRoles | None = None, alerts: AlertSettings | None = None,
                 memory_limit: str | None = DEFAULTS.memory_limit, threads: int | None = None) -> None:
        self.path = Path(path)
        # Distinguishes this open warehouse from any other in the process, for result caches.
        self.cache_token = f"{self.path.resolve() if str(path) != ':memory:' else path}:{uuid.uuid4().hex}"
        self._cursor_lock = threading.Lock()
        self._write_lock = threading.RLock()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | int] = {"threads": threads or DEFAULTS.duckdb_threads}
        if memory_limit:
            config["memory_limit"] = _absolute_memory_limit(memory_limit)
        try:
            self._con = duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as exc:
            if "newer version of duckdb" in str(exc).lower():
                raise WarehouseError(_newer_file_message(self.path)) from None
            if "lock" in str(exc).lower():
                raise WarehouseBusy(_busy_message(self.path, exc)) from None
            raise WarehouseError(f"cannot open the warehouse {self.path}: {exc}") from None
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open the warehouse {self.path}: {exc}. If the file is damaged, move it aside; "
                "the next refresh rebuilds it from Clari."
            ) from None
        self._migrate()
        self._create_views()
        self._sync_roles(roles or FieldRoles())
        self._sync_rep_status_cutoffs(alerts or AlertSettings())

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> WarehouseCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections ------------------------------------------------------------------------

    def cursor(self) -> Cursor:
        """A cursor of its own for the calling thread; one connection object is not thread-safe."""
        with self._cursor_lock:
            return self._con.cursor()

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A cursor inside one read transaction: every query through it sees the same export."""
        cur = self.cursor()
        cur.begin()
        try:
            yield cur
        finally:
            cur.rollback()
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """The one way to write: under the process's write lock, in one transaction on a cursor of
        its own, committed when the block ends and rolled back if it raises."""
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.begin()
                try:
                    yield cur
                except BaseException:
                    cur.rollback()
                    raise
                cur.commit()
            finally:
                cur.close()

    def query(self, name: str, cursor: Cursor | None = None, **params: Any) -> pd.DataFrame:
        """Run sql/queries/<name>.sql with named parameters; the result is fully materialised."""
        cur = cursor or self.cursor()
        try:
            return cur.execute(query_sql(name), params).df()
        finally:
            if cursor is None:
                cur.close()

    def query_row(self, name: str, cursor: Cursor | None = None, **params: Any) -> dict[str, Any]:
        """The single row of sql/queries/<name>.sql as plain Python values (None for NULL)."""
        cur = cursor or self.cursor()
        try:
            result = cur.execute(query_sql(name), params)
            names = [d[0] for d in result.description]
            return dict(zip(names, result.fetchone()))
        finally:
            if cursor is None:
                cur.close()

    def _value(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        """The first column of the first row of one of the warehouse's own statements (None if no row)."""
        cur = self.cursor()
        try:
            row = cur.execute(sql, params or {}).fetchone()
            return row[0] if row else None
        finally:
            cur.close()

    def _write(self, sql: str, params: dict[str, Any]) -> None:
        with self.transaction() as cur:
            cur.execute(sql, params)

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Tables and their data: sql/migrations/NNN_*.sql, each applied once, in its own transaction."""
        with self.transaction() as cur:
            cur.execute(_core("create_migrations_table"))
            applied = {row[0] for row in cur.execute(_core("applied_migrations")).fetchall()}
        for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
            version = int(path.name.split("_", 1)[0])
            if version in applied:
                continue
            log.info("applying migration %s", path.name)
            with self.transaction() as cur:
                cur.execute(path.read_text())
                cur.execute(_core("record_migration"),
                            {"version": version, "name": path.name, "applied_at": naive_utc()})

    def _create_views(self) -> None:
        """Views and macros as sql/views/ defines them now, in file order (later files use earlier ones)."""
        with self.transaction() as cur:
            for path in sorted((SQL_DIR / "views").glob("*.sql")):
                cur.execute(path.read_text())

    def _sync_roles(self, roles: FieldRoles) -> None:
        wanted = sorted((name, getattr(roles, name)) for name in FieldRoles.__dataclass_fields__)
        with self.transaction() as cur:
            if sorted(cur.execute(_core("field_roles")).fetchall()) == wanted:
                return
            cur.execute(_core("clear_field_roles"))
            cur.executemany(_core("insert_field_role"), [{"role": r, "field_id": f} for r, f in wanted])
            # Which field plays which role decides every row of both role tables, past ones included.
            stmts = sql_statements("load.sql")
            for name in ("clear_role_values", "rebuild_role_values", "rebuild_role_versions"):
                cur.execute(stmts[name])

    def _sync_rep_status_cutoffs(self, alerts: AlertSettings) -> None:
        wanted = (alerts.at_risk_below_pct, alerts.on_track_from_pct)
        with self.transaction() as cur:
            if cur.execute(_core("rep_status_cutoffs")).fetchone() != wanted:
                cur.execute(_core("set_rep_status_cutoffs"),
                            {"at_risk_below_pct": wanted[0], "on_track_from_pct": wanted[1]})

    # -- versions ---------------------------------------------------------------------------

    def data_version(self) -> int:
        """Changes whenever a load commits: the key for every cached query result."""
        return int(self._value(_core("data_version")))

    def table_contents(self, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, list[tuple]]:
        """Every row of the data tables, sorted: what 'the warehouse holds the same data' compares."""
        cur = self.cursor()
        try:
            return {t: sorted(cur.execute(_core("table_rows"), {"table": t}).fetchall(), key=repr) for t in tables}
        finally:
            cur.close()

    def export_record(self, job_id: str) -> dict[str, Any] | None:
        """The exports row of a loaded job, as plain values (None: the job loaded nothing)."""
        cur = self.cursor()
        try:
            result = cur.execute(_core("export_record"), {"job_id": job_id})
            row = result.fetchone()
            return dict(zip([d[0] for d in result.description], row)) if row else None
        finally:
            cur.close()

    def storage(self) -> dict[str, int]:
        """Bytes in use after a checkpoint (used blocks x block size) and the file's size."""
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute(_core("checkpoint"))
                block, used = cur.execute(_core("database_size")).fetchone()
            finally:
                cur.close()
        return {"used_bytes": int(block) * int(used), "file_bytes": self.path.stat().st_size}

    def memory_limit(self) -> str:
        """DuckDB's memory cap for this process, as DuckDB reports it (e.g. "1.0 GiB")."""
        return str(self._value(_core("memory_limit")))
