"""What a backend is: the base class every backend implements, the leadership of its writer, and
`Backend.from_settings`, the one reader of [warehouse] backend (the registry of names is the
package's, backends/__init__.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import duckdb

from clari_data.shared.config import ConfigError, Settings, WarehouseSettings

from ..base import WarehouseBusy, WarehouseError

Cursor = duckdb.DuckDBPyConnection
W = TypeVar("W")

# [warehouse] backend -> its class. Filled by the package (backends/__init__.py: the one list of names).
BACKENDS: dict[str, type[Backend]] = {}


class Leadership(ABC, Generic[W]):
    """Which process writes a warehouse that several may want to: `try_lead` takes the backend's
    writer lock if it is free; `holder` says who has it (for a standby's log); `holds` checks it is
    still ours; `open_warehouse` opens the warehouse for writing, once leading; `release` lets the
    lock go. W is the warehouse `open_warehouse` returns (storage/warehouse: backends know it not)."""

    @abstractmethod
    def try_lead(self) -> bool: ...

    @abstractmethod
    def holder(self) -> str: ...

    def holds(self) -> bool:
        return True

    @abstractmethod
    def open_warehouse(self) -> W: ...

    def release(self) -> None:
        pass

    def lead(self, refusal: str) -> W:
        """Lead now and return the warehouse opened for writing, or raise WarehouseBusy: the holder's
        name, then `refusal` (what a second writer should do instead)."""
        if not self.try_lead():
            raise WarehouseBusy(f"{self.holder()} {refusal}")
        try:
            return self.open_warehouse()
        except BaseException:
            self.release()
            raise


class OpeningLeads(Leadership[W]):
    """A backend only one process can open for writing (its own lock): the process that opens it
    leads, and one that cannot stands by. `lead` lets the backend's own busy message through."""

    def __init__(self, open_warehouse: Callable[[], W], location: str) -> None:
        self._open = open_warehouse
        self._location = location
        self._warehouse: W | None = None
        self._busy = "another process"

    def try_lead(self) -> bool:
        if self._warehouse is not None:
            return True
        try:
            self._warehouse = self._open()
        except WarehouseBusy as exc:
            self._busy = f"{exc.holder}, which holds {self._location},"
            return False
        return True

    def holder(self) -> str:
        return self._busy

    def open_warehouse(self) -> W:
        if self._warehouse is None:
            raise WarehouseError("the warehouse is open only to the leading worker")
        return self._warehouse

    def release(self) -> None:
        # The warehouse belongs to whoever opened it for the run (the worker closes it).
        self._warehouse = None

    def lead(self, refusal: str) -> W:
        if self._warehouse is None:
            self._warehouse = self._open()
        return self._warehouse


class Backend(ABC):
    """Where the warehouse's tables live, and all that differs with it: opening, cursors, read
    snapshots, the migrations' dialect, commits that lose to another process's, upkeep and storage,
    readiness for a reader, how messages and caches name it, and which lock its writer takes.
    storage/warehouse/core.py asks the backend and never which one it is. A backend is an immutable
    description of one warehouse: opening it again gives the same warehouse.

    The defaults below are a DuckDB database that one process writes and that holds everything
    itself (the embedded file); a backend overrides what it does otherwise."""

    # Several processes may open it at once (a writer and readers): what [server] role = "web" needs.
    name: ClassVar[str]  # its [warehouse] backend value, the registry's key
    shared: ClassVar[bool] = False
    # What it is, in the refusal of role "web" when it is not shared ("a DuckDB file").
    kind: ClassVar[str]
    # Whether its writer runs `upkeep` after every refresh run (else DuckDB's own checkpoints do).
    upkeep_after_runs: ClassVar[bool] = False

    # -- from the settings ------------------------------------------------------------------

    @staticmethod
    def from_settings(settings: Settings) -> Backend:
        """The backend [warehouse] names, its own settings checked: ConfigError with one line for
        the person who has to fix them. The only code that reads [warehouse] backend; the CLI and
        the app call it before anything starts."""
        w = settings.warehouse
        kind = BACKENDS.get(w.backend)
        if kind is None:
            raise ConfigError(f"[warehouse] backend must be one of {', '.join(BACKENDS)}, not {w.backend!r}")
        backend = kind.configured(w)
        if settings.server.role == "web" and not backend.shared:
            shared = " or ".join(f'"{name}"' for name, other in BACKENDS.items() if other.shared)
            raise ConfigError(f"[server] role = \"web\" needs [warehouse] backend = {shared}: a dashboard replica "
                              f"reads the lake the worker writes, and {backend.kind} is open to one process only")
        return backend

    @classmethod
    @abstractmethod
    def configured(cls, w: WarehouseSettings) -> Backend:
        """The backend [warehouse] describes; ConfigError for a setting it cannot work with."""

    # -- naming it --------------------------------------------------------------------------

    @abstractmethod
    def describe(self) -> str:
        """How messages name it (never a password)."""

    @property
    @abstractmethod
    def key(self) -> str:
        """Tells this warehouse from any other in a process: result caches, the process's refresh
        services and the test-message cool-down are kept per key (never a password)."""

    # -- connections ------------------------------------------------------------------------

    @abstractmethod
    def open(self, config: dict[str, Any], *, writer: bool) -> duckdb.DuckDBPyConnection:
        """A connection with DuckDB's `config`, or WarehouseError (WarehouseBusy: another process
        writes it) saying what to do. A reader (`writer=False`, shared backends only) changes nothing."""

    def prepare_cursor(self, cur: Cursor) -> None:  # noqa: B027 (a hook: nothing to do by default)
        """Makes a new cursor's names resolve to the tables, then the views and macros."""

    def prepare_views_cursor(self, cur: Cursor) -> None:  # noqa: B027 (a hook: nothing to do by default)
        """Makes a new cursor create the views and macros where they belong."""

    def snapshots(self, plain_cursor: Callable[[], Cursor], cursor: Callable[[], Cursor]) -> Callable[[], Cursor]:
        """What a read snapshot's cursor comes from (before its transaction begins), made once the
        views exist: a cursor as any other (`cursor`), or a backend's own (`plain_cursor` gives a
        cursor without `prepare_cursor`)."""
        return cursor

    # -- schema and writes ------------------------------------------------------------------

    def ddl(self, sql: str) -> str:
        """A migration's statements (written for the embedded file) as this backend takes them."""
        return sql

    def after_migrations(self, cur: Cursor) -> None:  # noqa: B027 (a hook: nothing to do by default)
        """The backend's own settings, written by its writer in the migrations' transaction."""

    def check_ready(self, cur: Cursor) -> None:  # noqa: B027 (a hook: nothing to do by default)
        """For a reader (shared backends only): WarehouseError unless a writer has created the tables
        up to this code's latest migration."""

    def is_conflict(self, exc: BaseException) -> bool:
        """Whether a commit failed only because another process's commit won (then the work runs
        again on the newer data): never, where one process writes."""
        return False

    # -- upkeep -----------------------------------------------------------------------------

    @abstractmethod
    def upkeep(self, cur: Cursor) -> None:
        """Its writer's upkeep, under the write lock: a checkpoint, a compaction."""

    @abstractmethod
    def storage(self, cur: Cursor) -> dict[str, int]:
        """Right after `upkeep`: `used_bytes` by the data, and `file_bytes` on disk."""

    # -- the writer -------------------------------------------------------------------------

    @abstractmethod
    def leadership(self, open_warehouse: Callable[[], W], who: str) -> Leadership[W]:
        """How a process becomes its one writer (`who`: "w1 on host (pid 42)", for other processes
        to see); `open_warehouse` opens the warehouse for writing."""
