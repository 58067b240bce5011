"""scripts/convert-warehouse: a warehouse file written by DuckDB 2.0 (which this project ran until it
pinned 1.5.5) becomes one the dashboard opens, every row kept, the original beside it untouched.

tests/fixtures/warehouse_duckdb2.duckdb.gz is the 0ed633e warehouse (migrations 001-007) written by
DuckDB 2.0; warehouse_0ed633e.duckdb.gz is the same two refreshes written by DuckDB 1.5.5
(tests/integration/test_warehouse_upgrade.py says how both were made). Reading the 2.0 file takes
duckdb==2.0.0 from PyPI, installed once into .venv-duckdb2/: where it cannot be installed these
tests skip, except in CI (CI=true), where they fail.
"""

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from clari_data.storage.warehouse import SQL_DIR, Warehouse

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "convert-warehouse"
FIXTURES = ROOT / "tests" / "fixtures"
DUCKDB2_PYTHON = Path(os.environ.get("CLARI_DUCKDB2_VENV") or ROOT / ".venv-duckdb2") / "bin" / "python"
NO_DUCKDB2 = 4  # the script's exit code when DuckDB 2.0 cannot be installed

# Columns the two fixtures differ in by how they were made, not by what was converted: wall-clock
# times of the runs that wrote them, the simulator's random job ids and the writing process's pid.
MADE_AT = {
    "exports": ("job_id", "loaded_at"),
    "export_attempts": ("job_id", "started_at", "finished_at"),
    "export_jobs": ("job_id", "queued_at", "updated_at"),
    "notification_deliveries": ("sent_at",),
    "notification_state": ("notified_at",),
    "runs": ("started_at", "finished_at", "pid"),
    "schema_migrations": ("applied_at",),
}


def unpack(name: str, path: Path) -> Path:
    with gzip.open(FIXTURES / name) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def convert(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """The script as a person runs it, with no clari.toml or secrets of this machine's."""
    (tmp_path / "clari.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLARI_") or k == "CLARI_DUCKDB2_VENV"}
    env.pop("PGPASSWORD", None)
    env.update(CLARI_CONFIG=str(tmp_path / "clari.toml"), CLARI_SECRETS=str(tmp_path / "no-secrets.toml"))
    return subprocess.run(["bash", str(SCRIPT), str(path)], capture_output=True, text=True, env=env, timeout=600)


def needs_duckdb2(result: subprocess.CompletedProcess) -> None:
    if result.returncode == NO_DUCKDB2:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must be able to install duckdb==2.0.0 from PyPI: {result.stderr.strip()}")
        pytest.skip(f"duckdb==2.0.0 could not be installed from PyPI here: {result.stderr.strip()}")


def rows(con, table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    columns = f"* EXCLUDE ({', '.join(exclude)})" if exclude else "*"
    return con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()


def read_with_duckdb2(path: Path) -> dict[str, str]:
    """Every table of a DuckDB 2.0 file as DuckDB 2.0 reads it: the repr of its sorted rows."""
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "tables = [t for (t,) in con.execute('SELECT table_name FROM duckdb_tables()').fetchall()]; "
            "print(json.dumps({t: repr(con.execute(f'SELECT * FROM {t} ORDER BY ALL').fetchall()) for t in tables}))")
    return json.loads(subprocess.run([DUCKDB2_PYTHON, "-c", code, str(path)], capture_output=True, text=True,
                                     check=True).stdout)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The 2.0 fixture, converted once for the module: (path, the script's result, the original's bytes)."""
    tmp_path = tmp_path_factory.mktemp("convert")
    path = unpack("warehouse_duckdb2.duckdb.gz", tmp_path / "clari.duckdb")
    original = path.read_bytes()
    result = convert(path, tmp_path)
    return path, result, original


@pytest.mark.slow
def test_a_duckdb_2_warehouse_is_converted_keeping_every_row_and_the_original(converted, tmp_path):
    path, result, original = converted
    needs_duckdb2(result)
    assert result.returncode == 0, result.stderr
    assert f"Converted {path}: 16 tables" in result.stdout
    aside = path.with_name("clari.duckdb.duckdb2")
    assert aside.read_bytes() == original  # kept beside it, byte for byte
    assert sorted(p.name for p in path.parent.iterdir()) == ["clari.duckdb", "clari.duckdb.duckdb2", "clari.toml"]

    # Every table's rows as DuckDB 2.0 reads them in the original are the rows DuckDB 1.5.5 reads in
    # the converted file (which the script's open has since migrated: older tables keep their rows).
    before = read_with_duckdb2(aside)
    con = duckdb.connect(str(path), read_only=True)
    try:
        after = {table: repr(rows(con, table)) for table in before if table != "schema_migrations"}
        assert after == {t: r for t, r in before.items() if t != "schema_migrations"}
        assert repr(con.execute("SELECT * FROM schema_migrations WHERE version <= 7 ORDER BY ALL").fetchall()) \
            == before["schema_migrations"]

        # The same data as DuckDB 1.5.5 wrote it, apart from when and by which process it was made.
        reference = duckdb.connect(str(unpack("warehouse_0ed633e.duckdb.gz", tmp_path / "ref.duckdb")),
                                   read_only=True)
        tables = [t for (t,) in reference.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert sorted(tables) == sorted(before)
        for table in tables:
            where = " WHERE version <= 7" if table == "schema_migrations" else ""
            assert rows(con, f"(SELECT * FROM {table}{where})", MADE_AT.get(table, ())) \
                == rows(reference, table, MADE_AT.get(table, ())), table
        reference.close()
    finally:
        con.close()

    # The dashboard's warehouse opens it: every migration applied, the views answer.
    with Warehouse(path) as wh:
        cur = wh.cursor()
        newest = max(int(p.name[:3]) for p in (SQL_DIR / "migrations").glob("*.sql"))
        assert [v for (v,) in cur.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()] \
            == list(range(1, newest + 1))
        assert cur.execute("SELECT count(*) FROM latest_exports").fetchone()[0] == 2
        assert cur.execute("SELECT count(*) FROM forecast_moves").fetchone()[0] == 23
        assert wh.latest_current_period("net_arr") == "2026_Q4"


def test_converting_again_finds_nothing_to_do(converted, tmp_path):
    path, result, _ = converted
    needs_duckdb2(result)
    before = path.read_bytes()
    again = convert(path, tmp_path)
    assert again.returncode == 0 and "nothing to convert" in again.stdout
    assert path.read_bytes() == before


def test_a_file_in_use_by_duckdb_2_is_left_as_it_was(converted, tmp_path):
    needs_duckdb2(converted[1])
    path = unpack("warehouse_duckdb2.duckdb.gz", tmp_path / "held.duckdb")
    holder = subprocess.Popen([DUCKDB2_PYTHON, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        before = path.read_bytes()
        result = convert(path, tmp_path)
        assert result.returncode == 1
        assert "is in use by another process" in result.stderr and "Traceback" not in result.stderr
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["clari.toml", "held.duckdb"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_an_earlier_original_beside_it_is_never_overwritten(tmp_path):
    path = unpack("warehouse_duckdb2.duckdb.gz", tmp_path / "clari.duckdb")
    aside = path.with_name("clari.duckdb.duckdb2")
    aside.write_bytes(b"an earlier conversion's original")
    before = path.read_bytes()
    result = convert(path, tmp_path)
    assert result.returncode == 1 and f"{aside} already exists" in result.stderr
    assert path.read_bytes() == before and aside.read_bytes() == b"an earlier conversion's original"


def test_a_file_this_duckdb_reads_is_not_touched(tmp_path):
    path = unpack("warehouse_0ed633e.duckdb.gz", tmp_path / "clari.duckdb")
    before = path.read_bytes()
    result = convert(path, tmp_path)
    assert result.returncode == 0 and "nothing to convert" in result.stdout
    assert path.read_bytes() == before
    assert not path.with_name("clari.duckdb.duckdb2").exists()


def test_something_that_is_not_a_warehouse_is_refused_in_one_line(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("not a database")
    result = convert(path, tmp_path)
    assert result.returncode == 1 and "does not open as a DuckDB file" in result.stderr
    assert "Traceback" not in result.stderr and path.read_text() == "not a database"
