"""What every part of the warehouse shares: its errors, and its SQL files (clari_data/storage/sql/)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent.parent / "sql"
_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class WarehouseError(RuntimeError):
    """A warehouse problem, phrased for the person who has to act on it."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse file."""


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


def query_sql(name: str) -> str:
    """sql/queries/<name>.sql: the reads the pages and operations run through `query`."""
    return sql_statements(f"queries/{name}.sql")[name]
