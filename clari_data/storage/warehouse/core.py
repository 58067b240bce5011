"""The connection: opening the warehouse where its backend keeps it (clari_data/storage/backends),
cursors, read snapshots, the one write lock and transaction, migrations, the views, and the settings
the views read."""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from clari_data.shared.config import AlertSettings, FieldRoles, WarehouseSettings
from clari_data.shared.timeutil import naive_utc

from ..backends import Backend, Cursor, FileBackend
from ..base import (
    SQL_DIR,
    WarehouseBusy,
    WarehouseError,
    migration_versions,
    query_sql,
    sql_identifier,
    sql_literal,
    sql_statements,
)

if TYPE_CHECKING:  # DuckDB imports pandas itself when a query result becomes a DataFrame
    import pandas as pd

__all__ = ["SQL_DIR", "WarehouseBusy", "WarehouseError", "query_sql", "sql_statements"]  # shared from base.py

log = logging.getLogger(__name__)

DATA_TABLES = ("exports", "users", "fields", "time_periods", "time_frames", "cell_versions", "changes")

T = TypeVar("T")

# A commit can lose to another process's on a shared backend (DuckLake's optimistic concurrency, e.g.
# a replica's refresh request against the worker's compaction of the same table): the work runs
# again on the newer snapshot, up to this many times in all.
COMMIT_ATTEMPTS = 5


def _core(name: str) -> str:
    return sql_statements("core.sql")[name]


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
    """One process writes: inside it every thread gets its own cursor, and every write goes
    through `transaction()` (or `atomically()`), under one lock.

    `target` is a `Backend` (clari_data/storage/backends), or the path of an embedded DuckDB file.
    Everything that differs between backends, this class asks it: e.g. on a lake, an in-memory
    DuckDB with the lake attached, its tables in the lake and the views and macros in this process's
    own in-memory catalog, writes and `cursor()` going to the lake and page runs (`snapshot()`)
    reading the process's mirror of it. Only a writer (`writer=True`: the one refresh process, role
    all or worker) migrates and syncs the settings the views read; a reader of a shared backend (a
    dashboard replica) writes no DDL. A backend that one process opens is always opened as its writer."""

    def __init__(self, target: Backend | str | Path, *, roles: FieldRoles | None = None,
                 alerts: AlertSettings | None = None, memory_limit: str | None = DEFAULTS.memory_limit,
                 threads: int | None = None, writer: bool = True) -> None:
        self.backend = target if isinstance(target, Backend) else FileBackend(Path(target))
        self.location = self.backend.describe()  # how messages name it
        self.writer = writer or not self.backend.shared
        # Distinguishes this open warehouse from any other in the process, for result caches.
        self.cache_token = f"{self.backend.key}:{uuid.uuid4().hex}"
        self._cursor_lock = threading.Lock()
        self._write_lock = threading.RLock()
        config: dict[str, str | int | bool] = {"threads": threads or DEFAULTS.duckdb_threads}
        if memory_limit:
            config["memory_limit"] = _absolute_memory_limit(memory_limit)
        self._con = self.backend.open(config, writer=self.writer)
        try:
            if self.writer:
                self._migrate()
            else:
                cur = self.cursor()
                try:
                    self.backend.check_ready(cur)
                finally:
                    cur.close()
            self._create_views()
            if self.writer:
                self._sync_roles(roles or FieldRoles())
                self._sync_rep_status_cutoffs(alerts or AlertSettings())
            self._snapshot_cursor = self.backend.snapshots(self._plain_cursor, self.cursor)
        except BaseException:
            self._con.close()
            raise

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> WarehouseCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections ------------------------------------------------------------------------

    def _plain_cursor(self) -> Cursor:
        with self._cursor_lock:
            return self._con.cursor()

    def cursor(self) -> Cursor:
        """A cursor of its own for the calling thread; one connection object is not thread-safe.
        Its names resolve to the tables, then to the views and macros (on a lake: the lake's tables,
        then this process's views and macros)."""
        cur = self._plain_cursor()
        self.backend.prepare_cursor(cur)
        return cur

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A cursor inside one read transaction: every query through it sees the same export. On
        a lake, it reads this process's mirror of the lake (backends/lake.py: Mirror), caught up with
        the lake's newest snapshot first: one lake snapshot, whatever writers commit meanwhile, read
        at the embedded file's speed, and blocking no writer."""
        cur = self._snapshot_cursor()
        cur.begin()
        try:
            yield cur
        finally:
            cur.rollback()
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One attempt at a write: under the process's write lock, in one transaction on a cursor
        of its own, committed when the block ends and rolled back if it raises. On a shared backend
        the commit can lose to another process's; `atomically` runs the work again then."""
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

    def atomically(self, work: Callable[[Cursor], T]) -> T:
        """`work(cur)` in one transaction, as `transaction()`; should its commit conflict with
        another process's (the backend says), the whole work runs again on the newer snapshot (it
        must only read and write through `cur`), at most COMMIT_ATTEMPTS times in all."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                with self.transaction() as cur:
                    return work(cur)
            except duckdb.Error as exc:
                if not self.backend.is_conflict(exc) or attempt == COMMIT_ATTEMPTS:
                    raise
                log.info("a lake commit conflicted with another process's (attempt %d); running it again", attempt)
                time.sleep(random.uniform(0.02, 0.05) * 2 ** attempt)
        raise AssertionError("unreachable")

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
        self.atomically(lambda cur: cur.execute(sql, params))

    # -- schema -----------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Tables and their data: sql/migrations/NNN_*.sql, each applied once, all that are pending
        in one transaction (a failing one leaves the warehouse as it was). The transaction looks at
        what is applied itself: on a lake, another worker starting at the same moment may have
        migrated it (the loser's commit conflicts, runs again and finds nothing to do). The
        backend's own settings too (on a lake, its options)."""
        def migrate(cur: Cursor) -> None:
            cur.execute(self.backend.ddl(_core("create_migrations_table")))
            applied = {row[0] for row in cur.execute(_core("applied_migrations")).fetchall()}
            for version, path in migration_versions().items():
                if version in applied:
                    continue
                log.info("applying migration %s", path.name)
                statements = self.backend.ddl(path.read_text())
                if statements.strip():
                    cur.execute(statements)
                cur.execute(_core("record_migration"),
                            {"version": version, "name": path.name, "applied_at": naive_utc()})
            self.backend.after_migrations(cur)
        self.atomically(migrate)

    def _create_views(self) -> None:
        """Views and macros as sql/views/ defines them now, in file order (later files use earlier
        ones): in the file, or for a lake in this process's in-memory catalog (backends/lake.py says why)."""
        with self._write_lock:
            with self._cursor_lock:
                cur = self._con.cursor()
            try:
                self.backend.prepare_views_cursor(cur)
                cur.begin()
                for path in sorted((SQL_DIR / "views").glob("*.sql")):
                    cur.execute(path.read_text())
                cur.commit()
            finally:
                cur.close()

    def _sync_roles(self, roles: FieldRoles) -> None:
        wanted = sorted((name, getattr(roles, name)) for name in FieldRoles.__dataclass_fields__)

        def sync(cur: Cursor) -> None:
            if sorted(cur.execute(_core("field_roles")).fetchall()) == wanted:
                return
            cur.execute(_core("clear_field_roles"))
            cur.executemany(_core("insert_field_role"), [{"role": r, "field_id": f} for r, f in wanted])
            # Which field plays which role decides every row of both role tables, past ones included.
            stmts = sql_statements("load.sql")
            for name in ("clear_role_values", "rebuild_role_values", "rebuild_role_versions"):
                cur.execute(stmts[name])
        self.atomically(sync)

    def _sync_rep_status_cutoffs(self, alerts: AlertSettings) -> None:
        wanted = (alerts.at_risk_below_pct, alerts.on_track_from_pct)

        def sync(cur: Cursor) -> None:
            if cur.execute(_core("rep_status_cutoffs")).fetchone() != wanted:
                cur.execute(_core("set_rep_status_cutoffs"),
                            {"at_risk_below_pct": wanted[0], "on_track_from_pct": wanted[1]})
        self.atomically(sync)

    def import_file(self, path: str | Path) -> dict[str, int]:
        """Every row of the embedded warehouse file at `path` into this warehouse, which must hold
        no export yet: how a team that ran on the file keeps its history on a lake. The file is
        migrated first (opened as its only writer, so no dashboard may hold it), then its tables
        are copied in one transaction, the settings tables too (the next open syncs them to the
        settings again). Returns the rows copied per table."""
        source = Path(path)
        if not source.is_file():
            raise WarehouseError(f"there is no warehouse file at {source}")
        if self.data_version():
            raise WarehouseError(f"{self.location} already holds exports: a file is imported into an empty "
                                 "warehouse only")
        type(self)(source).close()  # to this code's migrations

        def copy(cur: Cursor) -> dict[str, int]:
            counts = {}
            for (table,) in cur.execute(_core("source_tables")).fetchall():
                name = sql_identifier(table)
                cur.execute(_core("clear_table").format(table=name))
                cur.execute(_core("import_table").format(table=name))
                counts[table] = int(cur.execute(_core("count_rows").format(table=name)).fetchone()[0])
            return counts

        with self._write_lock:
            attach = self._plain_cursor()
            try:
                attach.execute(_core("attach_source").format(path=sql_literal(str(source))))
                try:
                    return self.atomically(copy)
                finally:
                    attach.execute(_core("detach_source"))
            finally:
                attach.close()

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
        """Bytes in use after the backend's upkeep (a checkpoint, a lake's compaction), and on disk
        (the file's size, every file under a lake's data directory): backends say how."""
        with self._write_lock:
            cur = self.cursor()
            try:
                self.backend.upkeep(cur)
                return self.backend.storage(cur)
            finally:
                cur.close()

    def compact(self) -> None:
        """The backend's upkeep, by its writer: for a lake, rows inlined in the catalog into data
        files, small files merged, deletes applied, snapshots older than a day expired and their files
        removed; for the embedded file, a checkpoint."""
        with self._write_lock:
            cur = self.cursor()
            try:
                self.backend.upkeep(cur)
            finally:
                cur.close()

    def memory_limit(self) -> str:
        """DuckDB's memory cap for this process, as DuckDB reports it (e.g. "1.0 GiB")."""
        return str(self._value(_core("memory_limit")))
