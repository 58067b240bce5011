"""What every part of storage shares, the backends and the warehouse: its errors, and its SQL files
(clari_data/storage/sql/)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class WarehouseError(RuntimeError):
    """A warehouse problem, phrased for the person who has to act on it."""


class WarehouseBusy(WarehouseError):
    """Another process writes the warehouse; `holder` names it ("process 4242", "another process")."""

    def __init__(self, message: str, holder: str = "another process") -> None:
        super().__init__(message)
        self.holder = holder


class LockUnreachable(WarehouseError):
    """What holds the writer lock cannot be reached to ask for it: worth trying again."""


@cache
def sql_literal(text: str) -> str:
    """A string literal for the few places SQL takes no bound parameter (ATTACH, LOAD a path)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted table name, for statements over tables named at run time."""
    return '"' + name.replace('"', '""') + '"'


def sql_statements(relative_path: str) -> dict[str, str]:
    """The statements of a .sql file under sql/, by their `-- name:` markers (or the file's stem)."""
    text = (SQL_DIR / relative_path).read_text()
    parts = _NAME_RE.split(text)
    if len(parts) == 1:
        return {Path(relative_path).stem: text}
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


def migration_versions() -> dict[int, Path]:
    """sql/migrations/NNN_*.sql by version, in order."""
    return {int(p.name.split("_", 1)[0]): p for p in sorted((SQL_DIR / "migrations").glob("*.sql"))}


def query_sql(name: str) -> str:
    """sql/queries/<name>.sql: the reads the pages and operations run through `query`."""
    return sql_statements(f"queries/{name}.sql")[name]
