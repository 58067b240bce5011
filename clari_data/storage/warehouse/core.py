"""The connection: opening the file or the lake, cursors, read snapshots, the one write lock and
transaction, migrations, the views, and the settings the views read."""

from __future__ import annotations

import logging
import os
import random
import re
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

from .base import SQL_DIR, WarehouseBusy, WarehouseError, query_sql, sql_identifier, sql_literal, sql_statements
from .lake import OFFLINE, Lake, Mirror, attach, is_conflict, lake_ddl

if TYPE_CHECKING:  # DuckDB imports pandas itself when a query result becomes a DataFrame
    import pandas as pd

__all__ = ["SQL_DIR", "WarehouseBusy", "WarehouseError", "query_sql", "sql_statements"]  # shared from base.py

log = logging.getLogger(__name__)

DATA_TABLES = ("exports", "users", "fields", "time_periods", "time_frames", "cell_versions", "changes")

Cursor = duckdb.DuckDBPyConnection
T = TypeVar("T")

# A lake's commit can lose to another process's (DuckLake's optimistic concurrency, e.g. a replica's
# refresh request against the worker's compaction of the same table): the work runs again on the
# newer snapshot, up to this many times in all.
COMMIT_ATTEMPTS = 5


def _core(name: str) -> str:
    return sql_statements("core.sql")[name]


def _lake(name: str) -> str:
    return sql_statements("lake.sql")[name]


def _migration_versions() -> dict[int, Path]:
    """sql/migrations/NNN_*.sql by version, in order."""
    return {int(p.name.split("_", 1)[0]): p for p in sorted((SQL_DIR / "migrations").glob("*.sql"))}


# The lake's options, set by its writer (sql/lake.sql: set_lake_option says why).
LAKE_OPTIONS = {"expire_older_than": "1 day", "delete_older_than": "1 day"}


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
    """One process writes: inside it every thread gets its own cursor, and every write goes
    through `transaction()` (or `atomically()`), under one lock.

    `path` is the embedded DuckDB file, or a `Lake` (warehouse/lake.py): an in-memory DuckDB with
    the lake attached, its tables in the lake and the views and macros in this process's own
    in-memory catalog; writes and `cursor()` go to the lake, page runs (`snapshot()`) read the
    process's mirror of it. Only a writer (`writer=True`: the one refresh process, role all or worker)
    migrates the lake and syncs the settings the views read; a reader (a dashboard replica) writes
    no DDL to the shared lake."""

    def __init__(self, path: str | Path | Lake, *, roles: FieldRoles | None = None, alerts: AlertSettings | None = None,
                 memory_limit: str | None = DEFAULTS.memory_limit, threads: int | None = None,
                 writer: bool = True) -> None:
        self.lake: Lake | None = path if isinstance(path, Lake) else None
        # What opens this warehouse again (a file's path, or the Lake), and how messages name it.
        self.target: Path | Lake = self.lake or Path(path)
        self.path: Path | None = None if self.lake else Path(path)
        self.location = self.lake.describe() if self.lake else str(self.path)
        self.writer = writer
        # Distinguishes this open warehouse from any other in the process, for result caches.
        where = self.location if self.lake or str(path) == ":memory:" else self.path.resolve()
        self.cache_token = f"{where}:{uuid.uuid4().hex}"
        self._cursor_lock = threading.Lock()
        self._write_lock = threading.RLock()
        config: dict[str, str | int | bool] = {"threads": threads or DEFAULTS.duckdb_threads}
        if memory_limit:
            config["memory_limit"] = _absolute_memory_limit(memory_limit)
        self._con = self._open_lake(config) if self.lake else self._open_file(config)
        self._mirror: Mirror | None = None
        try:
            if writer or not self.lake:
                self._migrate()
            else:
                self._check_lake_ready()
            self._create_views()
            if writer or not self.lake:
                self._sync_roles(roles or FieldRoles())
                self._sync_rep_status_cutoffs(alerts or AlertSettings())
            if self.lake:
                self._mirror = Mirror(self._plain_cursor)
        except BaseException:
            self._con.close()
            raise

    def _open_file(self, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        path = self.path
        assert path is not None
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(str(path), config=config)
        except duckdb.IOException as exc:
            if "newer version of duckdb" in str(exc).lower():
                raise WarehouseError(_newer_file_message(path)) from None
            if "lock" in str(exc).lower():
                raise WarehouseBusy(_busy_message(path, exc)) from None
            raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from None
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open the warehouse {path}: {exc}. If the file is damaged, move it aside; "
                "the next refresh rebuilds it from Clari."
            ) from None

    def _open_lake(self, config: dict[str, Any]) -> duckdb.DuckDBPyConnection:
        assert self.lake is not None
        con = duckdb.connect(":memory:", config={**config, **OFFLINE})
        try:
            attach(con, self.lake, writer=self.writer)
        except BaseException:
            con.close()
            raise
        return con

    def _check_lake_ready(self) -> None:
        """A reader needs the tables a worker creates, up to this code's latest migration."""
        cur = self.cursor()
        try:
            ready = cur.execute(_lake("lake_initialised")).fetchone()[0]
            applied = {r[0] for r in cur.execute(_core("applied_migrations")).fetchall()} if ready else set()
        finally:
            cur.close()
        host, port, _, dbname = self.lake.server() if self.lake else ("", "", "", "")
        if not ready:
            raise WarehouseError(f"The lake in the PostgreSQL database {dbname} at {host}:{port} has no warehouse "
                                 "tables yet: start the refresh worker (python -m clari_data worker), which creates "
                                 "them; a dashboard replica only reads.")
        missing = sorted(set(_migration_versions()) - applied)
        if missing:
            raise WarehouseError(f"The lake in {dbname} at {host}:{port} lacks migration {missing[0]:03d}, which this "
                                 "dashboard needs: start the refresh worker of this version first (it migrates the "
                                 "lake), then the dashboard replicas.")

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
        On a lake, names resolve to the lake's tables, then to this process's views and macros
        (a cursor is a connection of its own to the database instance: it inherits neither USE
        nor the search path)."""
        cur = self._plain_cursor()
        if self.lake:
            cur.execute(_lake("lake_cursor"))
        return cur

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A cursor inside one read transaction: every query through it sees the same export. On
        a lake, it reads this process's mirror of the lake (lake.py: Mirror), caught up with the
        lake's newest snapshot first: one lake snapshot, whatever writers commit meanwhile, read
        at the embedded file's speed, and blocking no writer."""
        if self._mirror is not None:
            self._mirror.catch_up()
            cur = self._plain_cursor()
            cur.execute(_lake("mirror_cursor"))
        else:
            cur = self.cursor()
        cur.begin()
        try:
            yield cur
        finally:
            cur.rollback()
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One attempt at a write: under the process's write lock, in one transaction on a cursor
        of its own, committed when the block ends and rolled back if it raises. On a lake the
        commit can lose to another process's; `atomically` runs the work again then."""
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
        another process's on the lake, the whole work runs again on the newer snapshot (it must
        only read and write through `cur`), at most COMMIT_ATTEMPTS times in all."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                with self.transaction() as cur:
                    return work(cur)
            except duckdb.Error as exc:
                if not (self.lake and is_conflict(exc)) or attempt == COMMIT_ATTEMPTS:
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

    def _ddl(self, sql: str) -> str:
        """A migration's statements as this backend takes them (lake.py: lake_ddl)."""
        return lake_ddl(sql) if self.lake else sql

    def _migrate(self) -> None:
        """Tables and their data: sql/migrations/NNN_*.sql, each applied once, all that are pending
        in one transaction (a failing one leaves the warehouse as it was). The transaction looks at
        what is applied itself: on a lake, another worker starting at the same moment may have
        migrated it (the loser's commit conflicts, runs again and finds nothing to do). On a lake,
        its options too (LAKE_OPTIONS)."""
        def migrate(cur: Cursor) -> None:
            cur.execute(self._ddl(_core("create_migrations_table")))
            applied = {row[0] for row in cur.execute(_core("applied_migrations")).fetchall()}
            for version, path in _migration_versions().items():
                if version in applied:
                    continue
                log.info("applying migration %s", path.name)
                statements = self._ddl(path.read_text())
                if statements.strip():
                    cur.execute(statements)
                cur.execute(_core("record_migration"),
                            {"version": version, "name": path.name, "applied_at": naive_utc()})
            if self.lake:
                stored = dict(cur.execute(_lake("lake_options")).fetchall())
                for name, value in LAKE_OPTIONS.items():
                    if stored.get(name) != value:
                        cur.execute(_lake("set_lake_option"), {"name": name, "value": value})
        self.atomically(migrate)

    def _create_views(self) -> None:
        """Views and macros as sql/views/ defines them now, in file order (later files use earlier
        ones): in the file, or for a lake in this process's in-memory catalog (lake.py says why)."""
        with self._write_lock:
            with self._cursor_lock:
                cur = self._con.cursor()
            try:
                if self.lake:
                    cur.execute(_lake("views_cursor"))
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
        """Bytes in use after a checkpoint (used blocks x block size) and the file's size; for a
        lake after a compaction, the current snapshot's data files and every file under the data
        directory (files of expired snapshots go a day later)."""
        if self.lake:
            self.compact()
            used = int(self._value(_lake("lake_storage")))
            folder = Path(self.lake.data_path)
            files = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
            return {"used_bytes": used, "file_bytes": files}
        assert self.path is not None
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute(_core("checkpoint"))
                block, used = cur.execute(_core("database_size")).fetchone()
            finally:
                cur.close()
        return {"used_bytes": int(block) * int(used), "file_bytes": self.path.stat().st_size}

    def compact(self) -> None:
        """A lake's upkeep, by its writer: rows inlined in the catalog into data files, small files
        merged, deletes applied, snapshots older than a day expired and their files removed. The
        embedded file: a checkpoint."""
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute(_lake("compact") if self.lake else _core("checkpoint"))
            finally:
                cur.close()

    def memory_limit(self) -> str:
        """DuckDB's memory cap for this process, as DuckDB reports it (e.g. "1.0 GiB")."""
        return str(self._value(_core("memory_limit")))
