"""Converts a warehouse file written by DuckDB 2.0 into one this project's DuckDB (1.5.5) opens.

Run through scripts/convert-warehouse PATH. DuckDB reads only files of its own version or older, so:
1. DuckDB 2.0, in a virtual environment of its own (.venv-duckdb2/, made once), opens the file
   read-only and writes every table to Parquet with EXPORT DATABASE (this same file, run by that
   environment's Python with --export); views and macros are left out of the schema, since the
   warehouse recreates them at every open;
2. this process (DuckDB 1.5.5) imports that into a new file beside the original and checks each
   table's row count against what DuckDB 2.0 counted;
3. the original is moved aside to PATH.duckdb2 (never deleted), the new file takes its place, and
   the warehouse opens it (running any newer migrations) to prove the dashboard can.
A failure at any step says what happened and leaves the original file where and as it was.

The statements live here rather than in clari_data/storage/sql: half of this runs under DuckDB 2.0, in an
environment without the project's dependencies, where the warehouse package cannot be imported.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import duckdb  # 2.0 when this file runs with --export, else the project's 1.5.5

ROOT = Path(__file__).resolve().parents[1]
DUCKDB2 = "2.0.0"
VENV = Path(os.environ.get("CLARI_DUCKDB2_VENV") or ROOT / ".venv-duckdb2")
# Exit codes (scripts/convert-warehouse lists them).
NOT_CONVERTED, NO_DUCKDB2 = 1, 4
# What the export's schema.sql may keep: tables and what they need. Views and macros refer to one
# another in an order DuckDB 1.5 does not always accept, and the warehouse recreates them anyway.
SKIPPED_RE = re.compile(r"\s*CREATE\s+(OR\s+REPLACE\s+)?(TEMP\w*\s+)?(VIEW|MACRO|FUNCTION)\s+(\S+)", re.IGNORECASE)
TABLES_SQL = ("SELECT schema_name, table_name FROM duckdb_tables() "
              "WHERE database_name = current_database() AND NOT temporary ORDER BY ALL")


class Failed(Exception):
    def __init__(self, message: str, code: int = NOT_CONVERTED) -> None:
        super().__init__(message)
        self.code = code


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_counts(con) -> dict[str, int]:
    return {f"{schema}.{table}": con.execute(f"SELECT count(*) FROM {quoted(schema)}.{quoted(table)}").fetchone()[0]
            for schema, table in con.execute(TABLES_SQL).fetchall()}


# -- step 1, run by DuckDB 2.0's Python -----------------------------------------------------------------

def export_with_this_duckdb(source: str, target: str) -> None:
    """EXPORT DATABASE to Parquet, keep only the tables in schema.sql, print the row counts as JSON."""
    con = duckdb.connect(source, read_only=True)
    counts = row_counts(con)
    con.execute(f"EXPORT DATABASE '{target.replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
    con.close()
    schema = Path(target) / "schema.sql"
    kept, skipped = [], []
    # Split by DuckDB 2.0's own parser: the file is in its dialect, and a statement may span lines.
    for statement in duckdb.extract_statements(schema.read_text()):
        match = SKIPPED_RE.match(statement.query)
        if match:
            skipped.append(match.group(4))
        else:
            kept.append(statement.query.strip().rstrip(";") + ";\n")
    schema.write_text("".join(kept))
    print(json.dumps({"counts": counts, "skipped": skipped}))


# -- steps 2 and 3, run by the project's Python (DuckDB 1.5.5) -------------------------------------------

def duckdb2_python() -> Path:
    """The Python of a virtual environment holding duckdb==2.0.0, made once and kept."""
    python = VENV / "bin" / "python"
    # Written after a complete install: an interrupted one is never taken for a finished one.
    done = VENV / f".duckdb-{DUCKDB2}-installed"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f"{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two conversions (or test runs) at once make it once
        if done.exists() and python.exists():
            return python
        print(f"Installing duckdb=={DUCKDB2} into {VENV} (once) ...", file=sys.stderr)
        shutil.rmtree(VENV, ignore_errors=True)
        made = subprocess.run([sys.executable, "-m", "venv", VENV], capture_output=True, text=True)
        if made.returncode != 0:
            raise Failed(f"Could not create the virtual environment {VENV}: {_last_line(made.stderr)}", NO_DUCKDB2)
        pip = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              f"duckdb=={DUCKDB2}"], capture_output=True, text=True)
        if pip.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            raise Failed(f"Could not install duckdb=={DUCKDB2} from PyPI, which reading the old file needs "
                         f"(pip: {_last_line(pip.stderr)}). Run this again where PyPI can be reached.", NO_DUCKDB2)
        done.touch()
    return python


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1]


def convert(path: Path) -> None:
    path = path.absolute()
    aside = path.with_name(path.name + ".duckdb2")
    wal = path.with_name(path.name + ".wal")
    if not path.is_file():
        raise Failed(f"{path} is not a file")
    if _opens_here(path):
        print(f"{path} already opens with DuckDB {duckdb.__version__}: nothing to convert.")
        return
    if aside.exists():
        raise Failed(f"{aside} already exists (an earlier conversion's original?): move it elsewhere first, "
                     "so that nothing is overwritten")

    python = duckdb2_python()
    # Beside the file: the new file is renamed into place, which needs the same file system.
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.convert-", dir=path.parent))
    try:
        exported = subprocess.run([python, __file__, "--export", str(path), str(work / "export")],
                                  capture_output=True, text=True)
        if exported.returncode != 0:
            raise Failed(_export_failure(path, exported.stderr))
        report = json.loads(exported.stdout.strip().splitlines()[-1])
        counts: dict[str, int] = report["counts"]

        new = work / "converted.duckdb"
        con = duckdb.connect(str(new))
        try:
            con.execute(f"IMPORT DATABASE '{_literal(work / 'export')}'")
            imported = row_counts(con)
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise Failed(f"DuckDB {duckdb.__version__} could not import what DuckDB {DUCKDB2} exported: {exc}"
                         ) from None
        finally:
            con.close()
        if imported != counts:
            differ = sorted(t for t in counts.keys() | imported.keys() if counts.get(t) != imported.get(t))
            raise Failed("the converted file's row counts differ from the original's in "
                         + ", ".join(f"{t} ({counts.get(t)} before, {imported.get(t)} after)" for t in differ))

        os.rename(path, aside)
        if wal.exists():  # a WAL belongs to its file: DuckDB 2.0 replayed it into the export
            os.rename(wal, aside.with_name(aside.name + ".wal"))
        os.rename(new, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    try:
        _open_with_the_warehouse(path)
    except Exception as exc:  # whatever stops the dashboard opening it: put the original back
        kept = path.with_name(path.name + ".converted")
        os.rename(path, kept)
        if wal.exists():  # the converted file's own, which must never meet the original
            os.rename(wal, kept.with_name(kept.name + ".wal"))
        os.rename(aside, path)
        if aside.with_name(aside.name + ".wal").exists():
            os.rename(aside.with_name(aside.name + ".wal"), wal)
        raise Failed(f"the converted file does not open as a warehouse ({exc}). The original is back at {path}; "
                     f"the converted file is at {kept} for a look") from None

    rows = sum(counts.values())
    print(f"Converted {path}: {len(counts)} tables, {rows:,} rows, each table's row count checked. "
          f"The original (DuckDB {DUCKDB2}) is at {aside}; delete it once the dashboard shows your history.")
    if report["skipped"]:
        print(f"Views and macros ({len(report['skipped'])}) were recreated by the warehouse, not copied.")


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def _opens_here(path: Path) -> bool:
    """True when this DuckDB reads the file already; False when it is too new; Failed otherwise."""
    try:
        duckdb.connect(str(path), read_only=True).close()
        return True
    except duckdb.Error as exc:
        if "newer version of duckdb" in str(exc).lower():
            return False
        if "lock" in str(exc).lower():
            raise Failed(f"{path} is in use by another process (the dashboard or a refresh): stop it and run this "
                         f"again ({exc})") from None
        raise Failed(f"{path} does not open as a DuckDB file: {exc}") from None


def _export_failure(path: Path, stderr: str) -> str:
    last = _last_line(stderr)
    if "lock" in last.lower():
        return (f"{path} is in use by another process (a dashboard or refresh still running the old version?): "
                f"stop it and run this again ({last})")
    return f"DuckDB {DUCKDB2} could not export {path}: {last}"


def _open_with_the_warehouse(path: Path) -> None:
    """Opens the file as the dashboard would, with clari.toml's field roles and alert cut-offs (the
    warehouse stores them at open), which also runs any migration newer than the file."""
    sys.path.insert(0, str(ROOT))
    from clari_data.shared.config import ConfigError, Settings, load_settings
    from clari_data.storage.warehouse import Warehouse

    os.chdir(ROOT)  # where clari.toml and .streamlit/secrets.toml are, as for the dashboard
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"(clari.toml not used, {exc}: the warehouse opens with the default settings)", file=sys.stderr)
        settings = Settings()
    warehouse = replace(settings.warehouse, path=str(path), backend="duckdb")
    Warehouse.from_settings(replace(settings, warehouse=warehouse, server=replace(settings.server, role="all"))).close()


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "--export":
        export_with_this_duckdb(argv[2], argv[3])
        return 0
    if len(argv) != 2:
        print("usage: scripts/convert-warehouse PATH", file=sys.stderr)
        return 2
    try:
        convert(Path(argv[1]))
    except Failed as failure:
        print(f"Not converted: {failure}", file=sys.stderr)
        return failure.code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
