"""The embedded file ([warehouse] backend = "duckdb", the default): one DuckDB file at `path`,
open to one process, which writes it. DuckDB's own lock on the file decides which: whoever opens
it leads, and a second process gets told who holds it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from clari_data.shared.config import WarehouseSettings

from ..base import WarehouseBusy, WarehouseError, sql_statements
from .backend import Backend, Cursor, Leadership, OpeningLeads, W


def _file_sql(name: str) -> str:
    return sql_statements("file.sql")[name]


def _busy(path: Path, exc: Exception) -> WarehouseBusy:
    pid = re.search(r"PID (\d+)", str(exc))
    holder = f"process {pid.group(1)}" if pid else "another process"
    return WarehouseBusy(
        f"The warehouse {path} is in use by {holder} (the dashboard server or another refresh). "
        "Only one process may write it: stop that process, or use \"Refresh now\" in the running dashboard.",
        holder)


def _newer_file_message(path: Path) -> str:
    return (
        f"The warehouse {path} was written by a newer DuckDB (2.0) than this dashboard runs "
        f"({duckdb.__version__}, the newest whose DuckLake and PostgreSQL extensions install from PyPI). "
        f"Nothing in it was changed. To keep its history, convert it: scripts/convert-warehouse {path} "
        "(the original stays beside it). Or move it aside and the next refresh rebuilds it from Clari, "
        "without the history of past exports."
    )


@dataclass(frozen=True)
class FileBackend(Backend):
    """The DuckDB file at `path` (":memory:": a database in this process's memory, for tests)."""

    path: Path

    name: ClassVar[str] = "duckdb"
    shared: ClassVar[bool] = False
    kind: ClassVar[str] = "a DuckDB file"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def configured(cls, w: WarehouseSettings) -> FileBackend:
        return cls(Path(w.path))

    def describe(self) -> str:
        return str(self.path)

    @property
    def key(self) -> str:
        in_memory = str(self.path) == ":memory:"
        return self.describe() if in_memory else str(self.path.resolve())

    def open(self, config: dict[str, Any], *, writer: bool) -> duckdb.DuckDBPyConnection:
        path = self.path
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(str(path), config=config)
        except duckdb.IOException as exc:
            if "newer version of duckdb" in str(exc).lower():
                raise WarehouseError(_newer_file_message(path)) from None
            if "lock" in str(exc).lower():
                raise _busy(path, exc) from None
            raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from None
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open the warehouse {path}: {exc}. If the file is damaged, move it aside; "
                "the next refresh rebuilds it from Clari."
            ) from None

    def upkeep(self, cur: Cursor) -> None:
        cur.execute(_file_sql("checkpoint"))

    def storage(self, cur: Cursor) -> dict[str, int]:
        """Bytes in use after the checkpoint (used blocks x block size), and the file's size."""
        block, used = cur.execute(_file_sql("database_size")).fetchone()
        return {"used_bytes": int(block) * int(used), "file_bytes": self.path.stat().st_size}

    def leadership(self, open_warehouse: Callable[[], W], who: str) -> Leadership[W]:
        return OpeningLeads(open_warehouse, self.describe())
