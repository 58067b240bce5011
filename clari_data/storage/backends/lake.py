"""The DuckLake backend ([warehouse] backend = "ducklake"): the warehouse's tables in a lake whose
catalog is a PostgreSQL database and whose data files (Parquet) live under a shared directory, read
and written by many DuckDB processes at once with snapshot isolation.

This module owns what only the lake needs: its settings; its two extensions, loaded offline from
the PyPI wheels by file path (`LOAD ducklake` by name downloads, which no machine here can);
attaching the lake with the catalog's password kept out of every SQL text, log, error and repr;
phrasing what went wrong for the person who has to act on it; the translation of the migrations to
what DuckLake stores; recognising a commit that lost to another process's (DuckLake's optimistic
concurrency); the process's mirror of the lake that page runs read (Mirror); and the leader lock of
its one writer, a PostgreSQL advisory lock (PostgresLeadership).

A process opens an in-memory DuckDB, attaches the lake as `lake`, and creates the views and macros
in its own in-memory catalog (warehouse/core.py). DuckLake 1.5.5 does store views and macros, but
refuses a macro parameter whose default is NULL (role_values_at's `users := NULL`: "unsupported
type NULL"); and views of the process's own code mean a dashboard replica never writes DDL to the
shared lake and never reads another version's definitions during a rolling upgrade.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shlex
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import duckdb

from clari_data.shared.config import ConfigError, Secret, WarehouseSettings
from clari_data.shared.redact import Scrubber

from ..base import LockUnreachable, WarehouseError, migration_versions, sql_identifier, sql_literal, sql_statements
from .backend import Backend, Cursor, Leadership, W

log = logging.getLogger(__name__)

# name of the extension -> (its Python package, the PyPI distribution that installs it)
EXTENSIONS = {
    "ducklake": ("duckdb_extension_ducklake", "duckdb-extension-ducklake"),
    "postgres_scanner": ("duckdb_extension_postgres_scanner", "duckdb-extension-postgres-scanner"),
}

# Connection settings of a lake process: never download an extension (there is no network for it,
# and a failed download would hide the real problem behind a URL).
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

# The lake's options, set by its writer (sql/lake.sql: set_lake_option says why).
LAKE_OPTIONS = {"expire_older_than": "1 day", "delete_older_than": "1 day"}


@dataclass(frozen=True)
class LakeBackend(Backend):
    """Where a lake is: its catalog ("postgres:<libpq keywords>", never a password), its data
    directory (or object-store URL), and the catalog's password, which only `attach` reveals."""

    catalog: str
    data_path: str
    password: Secret | None = field(default=None, repr=False)

    name: ClassVar[str] = "ducklake"
    shared: ClassVar[bool] = True
    upkeep_after_runs: ClassVar[bool] = True  # its compaction (runs.py: finish_run says why)

    @classmethod
    def configured(cls, w: WarehouseSettings) -> LakeBackend:
        if not w.catalog or not w.catalog.startswith("postgres:"):
            raise ConfigError("[warehouse] catalog must name the DuckLake catalog's PostgreSQL database, e.g. "
                              "\"postgres:dbname=clari host=db.internal port=5432 user=clari\"")
        if re.search(r"(^|[\s:])password\s*=", w.catalog, re.IGNORECASE):
            raise ConfigError("[warehouse] catalog must not carry the password: set PGPASSWORD, or [warehouse] "
                              "password in .streamlit/secrets.toml")
        if not w.data_path or not w.data_path.strip():
            raise ConfigError("[warehouse] data_path must name the lake's data directory (shared by every "
                              "process), e.g. \"/srv/clari/lake/\"")
        return cls(w.catalog, w.data_path, w.password)

    def describe(self) -> str:
        return f"the DuckLake {self.catalog} (data in {self.data_path})"

    @property
    def key(self) -> str:
        return self.describe()

    @property
    def conninfo(self) -> str:
        """The catalog's libpq keywords, without the "postgres:" prefix (never a password)."""
        return self.catalog.removeprefix("postgres:").strip()

    def server(self) -> tuple[str, str, str, str]:
        """host, port, user and database the catalog string names (libpq's defaults where it names none)."""
        keys = _conninfo_keys(self.conninfo)
        return (keys.get("host") or keys.get("hostaddr") or "localhost", keys.get("port") or "5432",
                keys.get("user") or "", keys.get("dbname") or keys.get("user") or "")

    # -- connections ------------------------------------------------------------------------

    def open(self, config: dict[str, Any], *, writer: bool) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:", config={**config, **OFFLINE})
        try:
            attach(con, self, writer=writer)
        except BaseException:
            con.close()
            raise
        return con

    def prepare_cursor(self, cur: Cursor) -> None:
        # A cursor is a connection of its own to the database instance: it inherits neither USE
        # nor the search path.
        cur.execute(_lake_sql("lake_cursor"))

    def prepare_views_cursor(self, cur: Cursor) -> None:
        cur.execute(_lake_sql("views_cursor"))

    def snapshots(self, plain_cursor: Callable[[], Cursor], cursor: Callable[[], Cursor]) -> Callable[[], Cursor]:
        return Mirror(plain_cursor).cursor

    # -- schema and writes ------------------------------------------------------------------

    def ddl(self, sql: str) -> str:
        return lake_ddl(sql)

    def after_migrations(self, cur: Cursor) -> None:
        stored = dict(cur.execute(_lake_sql("lake_options")).fetchall())
        for name, value in LAKE_OPTIONS.items():
            if stored.get(name) != value:
                cur.execute(_lake_sql("set_lake_option"), {"name": name, "value": value})

    def check_ready(self, cur: Cursor) -> None:
        host, port, _, dbname = self.server()
        if not cur.execute(_lake_sql("lake_initialised")).fetchone()[0]:
            raise WarehouseError(f"The lake in the PostgreSQL database {dbname} at {host}:{port} has no warehouse "
                                 "tables yet: start the refresh worker (python -m clari_data worker), which creates "
                                 "them; a dashboard replica only reads.")
        applied = {r[0] for r in cur.execute(sql_statements("core.sql")["applied_migrations"]).fetchall()}
        missing = sorted(set(migration_versions()) - applied)
        if missing:
            raise WarehouseError(f"The lake in {dbname} at {host}:{port} lacks migration {missing[0]:03d}, which this "
                                 "dashboard needs: start the refresh worker of this version first (it migrates the "
                                 "lake), then the dashboard replicas.")

    def is_conflict(self, exc: BaseException) -> bool:
        return is_conflict(exc)

    # -- upkeep -----------------------------------------------------------------------------

    def upkeep(self, cur: Cursor) -> None:
        """Rows inlined in the catalog into data files, small files merged, deletes applied,
        snapshots older than a day expired and their files removed."""
        cur.execute(_lake_sql("compact"))

    def storage(self, cur: Cursor) -> dict[str, int]:
        """The current snapshot's data files, and every file under the data directory (files of
        expired snapshots go a day later)."""
        used = int(cur.execute(_lake_sql("lake_storage")).fetchone()[0])
        folder = Path(self.data_path)
        files = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
        return {"used_bytes": used, "file_bytes": files}

    # -- the writer -------------------------------------------------------------------------

    def leadership(self, open_warehouse: Callable[[], W], who: str) -> Leadership[W]:
        return PostgresLeadership(self, open_warehouse, who)


def _conninfo_keys(conninfo: str) -> dict[str, str]:
    """The keywords of a libpq connection string, or of a postgresql:// URI (for messages only:
    libpq itself decides whether the string is valid)."""
    if conninfo.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(conninfo)
        return {"host": parts.hostname or "", "port": str(parts.port or ""), "user": parts.username or "",
                "dbname": parts.path.lstrip("/")}
    keys = {}
    try:
        tokens = shlex.split(conninfo.replace("=", " = "))
    except ValueError:
        return {}
    for i in range(len(tokens) - 2):
        if tokens[i + 1] == "=":
            keys[tokens[i]] = tokens[i + 2]
    return keys


def _lake_sql(name: str) -> str:
    return sql_statements("lake.sql")[name]


# -- extensions ----------------------------------------------------------------------------------


def extension_file(name: str) -> Path:
    """The extension's binary inside its PyPI wheel, for the DuckDB this process runs."""
    module, distribution = EXTENSIONS[name]
    wanted = f"{distribution}=={duckdb.__version__}"
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError(f"The DuckLake backend needs the DuckDB extension {name}, which is not installed: "
                             f"pip install {wanted} (DuckDB cannot download extensions here).")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    path = folder / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in folder.glob("v*"))) or "none"
        raise WarehouseError(f"The installed {distribution} holds no {name} extension for DuckDB "
                             f"{duckdb.__version__} (it has: {found}): pip install {wanted}.")
    return path


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    for name in EXTENSIONS:
        path = extension_file(name)
        try:
            con.execute(_lake_sql("load_extension").format(path=sql_literal(str(path))))
        except duckdb.Error as exc:
            raise WarehouseError(f"DuckDB {duckdb.__version__} could not load the {name} extension from {path}: "
                                 f"{str(exc).splitlines()[0]}") from None


# -- attaching -----------------------------------------------------------------------------------


def attach(con: duckdb.DuckDBPyConnection, lake: LakeBackend, *, writer: bool) -> None:
    """Attach the lake as `lake`. A writer creates the data directory and, on an empty catalog
    database, the lake itself; a reader changes nothing and says so when there is no lake yet."""
    check_data_path(lake, writer=writer)
    load_extensions(con)
    password = lake.password.reveal() if lake.password else None
    try:
        if password:
            con.execute(_lake_sql("password_secret"), {"password": password})
        con.execute(_lake_sql("attach").format(target=sql_literal(f"ducklake:{lake.catalog}"),
                                               data_path=sql_literal(lake.data_path),
                                               create="true" if writer else "false"))
    except duckdb.Error as exc:
        raise WarehouseError(attach_message(lake, scrub(str(exc), lake))) from None


def scrub(text: str, lake: LakeBackend | None) -> str:
    """The text without the catalog's password (DuckDB's messages quote connection strings)."""
    password = lake.password.reveal() if lake and lake.password else None
    return text.replace(password, "********") if password else text


def attach_message(lake: LakeBackend, text: str) -> str:
    """One sentence on why attaching failed, and what to check."""
    host, port, user, dbname = lake.server()
    detail = text
    match = re.search(r'Unable to connect to Postgres at "[^"]*": (.*)', text, re.DOTALL)
    if match:
        detail = match.group(1)
    detail = " ".join(detail.split())
    if "creating a new DuckLake is explicitly disabled" in text:
        return (f"No lake has been created in the PostgreSQL database {dbname} at {host}:{port} yet: start the "
                "refresh worker (python -m clari_data worker) once, which creates it; a dashboard replica only "
                "reads it.")
    if "password authentication failed" in text or "no password supplied" in text:
        return (f"PostgreSQL at {host}:{port} refused user {user or '(default)'}: the password is wrong or missing "
                f"({detail}). Set PGPASSWORD, or [warehouse] password in .streamlit/secrets.toml.")
    if re.search(r'database "[^"]*" does not exist', text):
        return (f"The lake's catalog database {dbname} does not exist on PostgreSQL at {host}:{port}: create it "
                f"(createdb -h {host} -p {port} {dbname}), or fix dbname in [warehouse] catalog.")
    if re.search(r'role "[^"]*" does not exist', text):
        return f"PostgreSQL at {host}:{port} has no user {user}: fix user in [warehouse] catalog ({detail})."
    if any(s in text for s in ("invalid connection option", 'missing "="', "unterminated quoted string",
                                "invalid URI", "invalid integer value", "invalid port number")):
        return (f"[warehouse] catalog {lake.catalog!r} is not a PostgreSQL connection string ({detail}); write it "
                "as \"postgres:dbname=clari host=db.internal port=5432 user=clari\".")
    if any(s in text for s in ("Connection refused", "could not translate host name", "timeout expired",
                                "No route to host", "Network is unreachable", "could not connect",
                                "server closed the connection", "SSL negotiation", "Connection timed out")):
        return (f"Cannot reach the lake's PostgreSQL at {host}:{port} ({detail}). Check that PostgreSQL runs there, "
                "listens on that address (listen_addresses) and lets this machine in (pg_hba.conf, firewall), "
                "and the host and port in [warehouse] catalog.")
    if "does not match existing data path" in text:
        stored = re.search(r'existing data path in the catalog "([^"]*)"', text)
        where = f" ({stored.group(1)})" if stored else ""
        return (f"The lake in {dbname} at {host}:{port} keeps its data in another directory{where} than [warehouse] "
                f"data_path = {lake.data_path!r}: set data_path to that directory, as every process must.")
    return f"Cannot open {lake.describe()}: {detail}"


def check_data_path(lake: LakeBackend, *, writer: bool) -> None:
    """A local data directory must be there and usable before attaching (DuckLake would only fail
    at the first write). A writer creates it when it is missing; an object-store URL is left to DuckDB."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", lake.data_path):
        return
    path = Path(lake.data_path)
    if writer:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"The lake's data directory {lake.data_path} does not exist and cannot be created "
                                 f"({exc.strerror}): create it (shared by every process), or set [warehouse] "
                                 "data_path to a writable directory.") from None
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".clari-write-check-"):
                pass
        except OSError as exc:
            raise WarehouseError(f"The lake's data directory {lake.data_path} is not writable by this process "
                                 f"(user id {os.getuid()}: {exc.strerror}): the refresh worker must be able to "
                                 "write it.") from None
    elif not path.is_dir():
        raise WarehouseError(f"The lake's data directory {lake.data_path} does not exist here: mount the directory "
                             "the refresh worker writes at this path (every process shares it).")
    elif not os.access(path, os.R_OK | os.X_OK):
        raise WarehouseError(f"The lake's data directory {lake.data_path} is not readable by this process "
                             f"(user id {os.getuid()}).")


# -- what DuckLake stores ------------------------------------------------------------------------


def lake_ddl(sql: str) -> str:
    """A migration as DuckLake takes it: without PRIMARY KEY, UNIQUE and CHECK constraints and
    without sequences, which DuckLake does not have (it refuses the statement); a primary key
    column stays NOT NULL, as the key made it. NOT NULL and DEFAULT stay. The migrations stay
    written for the embedded file, whose constraints guard its data; on the lake the named
    statements keep keys unique themselves (MERGE, max + 1 ids under the one writer's lock), the
    same SQL on both backends. (tests/integration/test_lake.py compares the two schemas.)"""
    text = re.sub(r"--[^\n]*", "", sql)
    text = re.sub(r"DROP\s+SEQUENCE\b[^;]*;", "", text, flags=re.IGNORECASE)
    text = re.sub(r",\s*(PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", "", text, flags=re.IGNORECASE)
    text = re.sub(r"(\s+NOT\s+NULL)?\s+PRIMARY\s+KEY\b", " NOT NULL", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+UNIQUE\b", "", text, flags=re.IGNORECASE)
    out, i = [], 0
    for match in re.finditer(r"\s+CHECK\s*\(", text, flags=re.IGNORECASE):
        if match.start() < i:
            continue
        depth, j = 1, match.end()
        while depth and j < len(text):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        out.append(text[i:match.start()])
        i = j
    out.append(text[i:])
    return "".join(out)


def is_conflict(exc: BaseException) -> bool:
    """A commit another process's commit beat (DuckLake checks at commit, optimistically): the
    transaction is rolled back and may be run again on the newer snapshot."""
    return isinstance(exc, duckdb.Error) and "conflict" in str(exc).lower() and "transaction" in str(exc).lower()


# -- the process's copy for page runs ------------------------------------------------------------

# What a snapshot's `changes` say about tables (their ids): their rows changed, or only how they are
# stored (compaction). Any other change (a table created, altered or dropped, or a kind this code
# does not know) makes the mirror copy every table again.
ROWS_CHANGED = frozenset({"tables_inserted_into", "tables_deleted_from", "inlined_insert", "inlined_delete"})
STORAGE_ONLY = frozenset({"flushed_inlined", "merge_adjacent", "rewrite_delete"})


class Mirror:
    """This process's copy of the lake's tables at one lake snapshot, which page runs read.

    Planning a query on the lake asks the catalog's PostgreSQL for each table it names (its files,
    deletes and statistics): about 2.5 ms a table reference, a few hundred milliseconds for a page's
    calls, several times the embedded file's whole data time (bench; docs/operations/warehouse.md). The
    mirror (an in-memory DuckDB catalog, compressed) holds the lake's tables as of one snapshot;
    a page run reads it through the views in one local read transaction, so it sees one lake
    snapshot by construction and never waits for, nor holds up, a writer. Before each page run the
    mirror catches up if the lake moved: in one transaction that reads the lake at its newest
    snapshot, it copies again the tables whose rows changed since its own (the snapshots' change
    lists say which), all of them after a schema change or when those snapshots have expired.
    A page run that starts while another thread catches up reads the copy as it is."""

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self._cursor = cursor
        self._lock = threading.Lock()
        self.snapshot_id: int | None = None  # the lake snapshot the mirror holds
        cur = cursor()
        try:
            cur.execute(_lake_sql("attach_mirror"))
        finally:
            cur.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A page run's cursor: the mirror caught up with the lake's newest snapshot first, its
        tables then the process's views and macros."""
        self.catch_up()
        cur = self._cursor()
        cur.execute(_lake_sql("mirror_cursor"))
        return cur

    def catch_up(self) -> None:
        """Copy what changed in the lake since the mirror's snapshot (nothing if it did not move).
        Another thread already catching up: return at once, the page reads the copy as it is."""
        if not self._lock.acquire(blocking=self.snapshot_id is None):
            return
        try:
            cur = self._cursor()
            try:
                latest = cur.execute(_lake_sql("latest_snapshot")).fetchone()[0]
                if latest != self.snapshot_id:
                    self._copy(cur)
            finally:
                cur.close()
        finally:
            self._lock.release()

    def _copy(self, cur: duckdb.DuckDBPyConnection) -> None:
        started = time.perf_counter()
        cur.begin()
        try:
            since = self.snapshot_id
            snapshots = cur.execute(_lake_sql("snapshots_since"), {"since": since if since is not None else -1})
            snapshots = snapshots.fetchall()
            if not snapshots:
                cur.rollback()
                return
            upto = snapshots[-1][0]
            lake_tables = dict(cur.execute(_lake_sql("lake_tables")).fetchall())
            changed = self._changed(snapshots, since, upto, lake_tables)
            if changed is None:  # everything, and no table the lake no longer has
                changed = set(lake_tables.values())
                for (name,) in cur.execute(_lake_sql("mirror_tables")).fetchall():
                    if name not in changed:
                        cur.execute(_lake_sql("drop_mirror_table").format(table=sql_identifier(name)))
            for name in sorted(changed):
                cur.execute(_lake_sql("copy_table").format(table=sql_identifier(name)))
            cur.commit()
        except BaseException:
            cur.rollback()
            raise
        self.snapshot_id = upto
        log.debug("mirror at lake snapshot %s: %d table(s) copied in %.2f s", upto, len(changed),
                  time.perf_counter() - started)

    @staticmethod
    def _changed(snapshots: list[tuple], since: int | None, upto: int,
                 lake_tables: dict[int, str]) -> set[str] | None:
        """The tables whose rows changed in `snapshots`, or None: copy them all."""
        if since is None or len(snapshots) != upto - since:  # first copy, or snapshots expired meanwhile
            return None
        changed: set[str] = set()
        for _, changes in snapshots:
            for kind, ids in (changes or {}).items():
                if kind in STORAGE_ONLY:
                    continue
                if kind not in ROWS_CHANGED:
                    return None
                for table_id in ids:
                    name = lake_tables.get(int(table_id)) if str(table_id).isdigit() else None
                    if name is None:
                        return None
                    changed.add(name)
        return changed


# -- the leader lock -----------------------------------------------------------------------------

# One key for every worker of every lake: advisory locks belong to a database, and each lake's
# catalog has one. A fixed 63-bit number (pg_try_advisory_lock takes a bigint), from a name.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"clari-dashboard refresh worker").digest()[:8], "big") >> 1
APP_PREFIX = "clari-worker "
# Server-side keepalives for the lock's session (seconds): sql/leader.sql, keepalive.
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


def _leader_sql(name: str) -> str:
    return sql_statements("leader.sql")[name]


class PostgresLeadership(Leadership[W]):
    """A session advisory lock in the lake's catalog database, on a connection of its own.
    PostgreSQL releases it when that connection ends: the writer exits or is killed (kill -9 closes
    its socket at once), or its machine goes silent (the session's TCP keepalives give up on it
    within about 30 s). The lock is per database, so each lake has its own leader."""

    def __init__(self, lake: LakeBackend, open_warehouse: Callable[[], W], who: str, *,
                 connect_timeout: int = 10) -> None:
        self.lake = lake
        self._open = open_warehouse
        # What other sessions see in pg_stat_activity: a standby names the leader from it.
        self.application_name = f"{APP_PREFIX}{who}"[:63]
        self.connect_timeout = connect_timeout
        self._password = lake.password.reveal() if lake.password else None
        self._scrub = Scrubber([self._password] if self._password else [])
        self._con = None
        self._holder = "another worker"

    def _connect(self):
        import psycopg

        options = {"password": self._password} if self._password else {}
        try:
            con = psycopg.connect(self.lake.conninfo, autocommit=True, application_name=self.application_name,
                                  connect_timeout=self.connect_timeout, keepalives=1, keepalives_idle=10,
                                  keepalives_interval=5, keepalives_count=3, **options)
        except psycopg.Error as exc:
            raise LockUnreachable(f"cannot reach the lake's catalog database ({self.lake.conninfo}) "
                                  f"for the leader lock: {self._scrub(str(exc).strip())}") from None
        for name, seconds in KEEPALIVE.items():
            con.execute(_leader_sql("keepalive"), {"name": name, "value": str(int(seconds))})
        return con

    def try_lead(self) -> bool:
        import psycopg

        if self._con is not None and self.holds():
            return True
        self._drop()
        con = self._connect()
        try:
            if con.execute(_leader_sql("try_lock"), {"key": LOCK_KEY}).fetchone()[0]:
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
            row = con.execute(_leader_sql("lock_holder"),
                              {"high": (LOCK_KEY >> 32) & 0xFFFFFFFF, "low": LOCK_KEY & 0xFFFFFFFF}).fetchone()
        except Exception:  # the holder is only for the log
            row = None
        if not row:
            return "another worker"
        name, address, backend = row
        if name and name.startswith(APP_PREFIX):
            return f"worker {name.removeprefix(APP_PREFIX)}"
        return f"another process (PostgreSQL backend {backend}{f' from {address}' if address else ''})"

    def holder(self) -> str:
        return self._holder

    def holds(self) -> bool:
        if self._con is None:
            return False
        try:
            self._con.execute(_leader_sql("alive")).fetchone()
            return True
        except Exception:  # the connection is gone, and the lock with it
            return False

    def open_warehouse(self) -> W:
        if self._con is None:
            raise WarehouseError("the warehouse is open for writing only to the leading worker")
        return self._open()

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
