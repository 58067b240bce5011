"""The DuckLake backend on a real PostgreSQL: one clear message for each way opening can fail, the
password in no message or log, the same schema and public view columns as the embedded file, a
reader that writes nothing to the lake, one snapshot per page run while the worker commits, and a
write that runs again when its commit loses to another process's."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import duckdb
import postgres
import pytest
from builders import Export, small_org
from support import free_port, sql_value

from clari_data.shared.config import Secret
from clari_data.storage.backends import LakeBackend, lake
from clari_data.storage.warehouse import Warehouse, WarehouseError

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Lake-Pass-9c41e7"  # recognisable: every output is searched for it
EXPORTED = datetime(2026, 4, 10, 8, 0)


def export(calls: int) -> Export:
    """The six people of small_org in one week of 2026_Q1, each calling `calls`."""
    e = Export(users=small_org(), weeks=["2026-03-23"])
    for uid in ("r1", "r2", "r3", "m1", "m2", "cro"):
        e.row(uid, "2026-03-23", commit=calls, best_case=calls + 10, quota=100, closed=40, pipeline=160)
    return e


def golden_export() -> Export:
    return export(90)


def second_export() -> Export:
    return export(95)


def load(wh, path, job):
    return wh.load_export(path, forecast_id="net_arr", job_id=job, requested_period="2026_Q1", exported_at=EXPORTED)


def opening_error(target, **kw) -> str:
    with pytest.raises(WarehouseError) as err:
        Warehouse(target, **kw)
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


# -- what goes wrong when opening ------------------------------------------------------------


def test_a_catalog_string_libpq_cannot_read(postgres_server, tmp_path):
    text = opening_error(LakeBackend(f"postgres:dbname=x hostt=127.0.0.1 {postgres_server}", f"{tmp_path}/lake/"))
    assert "[warehouse] catalog" in text and "not a PostgreSQL connection string" in text and "hostt" in text
    text = opening_error(LakeBackend("postgres:garbage", f"{tmp_path}/lake/"))
    assert "not a PostgreSQL connection string" in text


def test_an_unreachable_postgresql_names_host_and_port_and_what_to_check(tmp_path):
    port = free_port()
    text = opening_error(LakeBackend(f"postgres:dbname=clari host=127.0.0.1 port={port} user=clari",
                                     f"{tmp_path}/lake/"))
    assert f"Cannot reach the lake's PostgreSQL at 127.0.0.1:{port}" in text
    assert "Connection refused" in text and "pg_hba.conf" in text


def test_a_missing_catalog_database_says_how_to_create_it(_postgres, tmp_path):
    text = opening_error(LakeBackend(f"postgres:dbname=no_such_lake {_postgres.conninfo}", f"{tmp_path}/lake/"))
    assert "no_such_lake does not exist" in text and "createdb" in text


def test_a_data_directory_that_cannot_be_made(new_lake, tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    made = new_lake()
    text = opening_error(LakeBackend(made.catalog, f"{tmp_path}/a-file/lake/"))
    assert f"{tmp_path}/a-file/lake/ does not exist and cannot be created" in text


def test_a_data_directory_elsewhere_than_the_lake_keeps_its_files(new_lake, tmp_path):
    made = new_lake()
    Warehouse(made).close()
    text = opening_error(LakeBackend(made.catalog, f"{tmp_path}/elsewhere/"))
    assert made.data_path in text and "set data_path to that directory" in text


def test_a_reader_before_any_worker_says_to_start_the_worker(new_lake, tmp_path):
    made = new_lake()
    text = opening_error(made, writer=False)
    assert "data directory" in text and "mount" in text  # not even the data directory is there yet
    Path(made.data_path).mkdir(parents=True)
    text = opening_error(made, writer=False)
    assert "No lake has been created" in text and "python -m clari_data worker" in text
    # ... and it created nothing: a worker can still make the lake, and then the reader opens it.
    Warehouse(made).close()
    Warehouse(made, writer=False).close()


def test_a_missing_extension_wheel_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(lake.EXTENSIONS, "ducklake", ("no_such_module_for_ducklake", "duckdb-extension-ducklake"))
    text = opening_error(LakeBackend("postgres:dbname=x host=127.0.0.1", f"{tmp_path}/lake/"))
    assert f"pip install duckdb-extension-ducklake=={duckdb.__version__}" in text


@pytest.fixture(scope="module")
def guarded_server():
    """A cluster of its own whose user clari_pw must give a password (the session's trusts every
    local user): scripts/postgres, then pg_hba.conf asks clari_pw for scram-sha-256."""
    try:
        server = postgres.start_server()
    except postgres.PostgresUnavailable as exc:
        postgres.unavailable(str(exc))
    try:
        hba = server.folder / "data" / "pg_hba.conf"
        hba.write_text("host all clari_pw 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        server.execute(f"CREATE ROLE clari_pw LOGIN PASSWORD '{PASSWORD}'")
        server.execute("CREATE DATABASE clari_pw_lake OWNER clari_pw")
        server.execute("SELECT pg_reload_conf()")
        yield server
    finally:
        server.stop()


def test_the_password_opens_the_lake_and_appears_nowhere(guarded_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    catalog = f"postgres:dbname=clari_pw_lake host=127.0.0.1 port={guarded_server.keyword('port')} user=clari_pw"
    missing = opening_error(LakeBackend(catalog, f"{tmp_path}/lake/"))
    assert "refused user clari_pw" in missing and "PGPASSWORD" in missing
    wrong = opening_error(LakeBackend(catalog, f"{tmp_path}/lake/", Secret("not-" + PASSWORD)))
    assert "the password is wrong or missing" in wrong and PASSWORD not in wrong
    right = LakeBackend(catalog, f"{tmp_path}/lake/", Secret(PASSWORD))
    assert PASSWORD not in repr(right) and PASSWORD not in right.describe()
    with Warehouse(right) as wh:
        load(wh, golden_export().write(tmp_path / "a.json"), "job-1")
        assert wh.data_version() == 1
        cur = wh.cursor()
        secrets = cur.execute("SELECT secret_string FROM duckdb_secrets()").fetchall()
        assert secrets and all(PASSWORD not in s for (s,) in secrets)
        databases = cur.execute("SELECT path FROM duckdb_databases()").fetchall()
        assert all(PASSWORD not in str(p) for (p,) in databases)
        with pytest.raises(duckdb.Error) as err:  # a query's error quotes no connection string with it
            cur.execute("SELECT * FROM no_such_table")
        assert PASSWORD not in str(err.value)
        assert PASSWORD not in wh.location and PASSWORD not in wh.cache_token
    with Warehouse(right, writer=False) as reader:
        assert reader.data_version() == 1
    assert PASSWORD not in caplog.text
    # Nothing stored in the lake's catalog or its files holds it either.
    stored = guarded_server.execute("SELECT string_agg(t::text, ' ') FROM ducklake_metadata t", "clari_pw_lake")
    assert PASSWORD not in str(stored)
    for path in Path(right.data_path).rglob("*"):
        assert not path.is_file() or PASSWORD.encode() not in path.read_bytes()


# -- the same warehouse as the file --------------------------------------------------------------


def columns(wh: Warehouse, names: list[str]) -> dict[str, list[tuple]]:
    cur = wh.cursor()
    try:
        return {n: [(d[0], str(d[1])) for d in cur.execute(f"SELECT * FROM {n} LIMIT 0").description] for n in names}
    finally:
        cur.close()


def test_the_lake_has_the_file_s_tables_views_and_columns(new_lake, tmp_path):
    with Warehouse(tmp_path / "w.duckdb") as file, Warehouse(new_lake()) as lake_wh:
        cur = file.cursor()
        tables = [r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        views = [r[0] for r in cur.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                           "ORDER BY 1").fetchall()]
        macros = sorted({r[0] for r in cur.execute("SELECT function_name FROM duckdb_functions() "
                                                   "WHERE function_type IN ('macro', 'table_macro') "
                                                   "AND database_name = current_database()").fetchall()})
        assert "cell_versions" in tables and "pipeline_coverage" in views and "role_values_at" in macros
        assert columns(lake_wh, tables) == columns(file, tables)
        assert columns(lake_wh, views) == columns(file, views)
        notnull = ("SELECT table_name, column_name, is_nullable FROM duckdb_columns() WHERE database_name = ? "
                   "AND table_name IN (SELECT unnest(?)) ORDER BY ALL")
        lake_cur = lake_wh.cursor()
        assert (lake_cur.execute(notnull, ["lake", tables]).fetchall()
                == cur.execute(notnull, [file.backend.path.stem, tables]).fetchall())
        # The tables are in the lake; the views and macros in the process's own memory, none in the lake.
        in_lake = lake_cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' "
                                   "ORDER BY 1").fetchall()
        assert [r[0] for r in in_lake] == tables
        assert lake_cur.execute("SELECT count(*) FROM duckdb_views() WHERE database_name = 'lake'").fetchone() == (0,)
        lake_macros = {r[0] for r in lake_cur.execute("SELECT function_name FROM duckdb_functions() "
                                                      "WHERE database_name = 'memory'").fetchall()}
        assert set(macros) <= lake_macros


def test_every_cursor_reads_the_lake_through_the_views(new_lake, tmp_path):
    with Warehouse(new_lake()) as wh:
        load(wh, golden_export().write(tmp_path / "a.json"), "job-1")
        results = []

        def read():
            cur = wh.cursor()
            results.append(cur.execute("SELECT count(*) FROM pipeline_coverage").fetchone()[0])
            cur.close()

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [6] * 4


def test_a_reader_writes_nothing_to_the_lake(new_lake, tmp_path):
    made = new_lake()
    latest = "SELECT max(snapshot_id) FROM ducklake_snapshots('lake')"
    with Warehouse(made) as writer:
        load(writer, golden_export().write(tmp_path / "a.json"), "job-1")
        snapshots = sql_value(writer, latest)
    with Warehouse(made, writer=False) as reader:
        assert sql_value(reader, "SELECT count(*) FROM rep_performance") == 6
        assert sql_value(reader, latest) == snapshots


# -- one snapshot per page run, while the worker commits -----------------------------------------


def test_a_page_run_keeps_its_snapshot_while_the_writer_commits(new_lake, tmp_path):
    made = new_lake()
    with Warehouse(made) as writer, Warehouse(made, writer=False) as reader:
        load(writer, golden_export().write(tmp_path / "a.json"), "job-1")
        total = "SELECT sum(commit_amount) FROM latest_week_values"
        with reader.snapshot() as page:
            before = page.execute(total).fetchone()[0]
            assert page.execute("SELECT max(export_id) FROM exports").fetchone()[0] == 1
            done = threading.Event()

            def commit_the_next_export():
                load(writer, second_export().write(tmp_path / "b.json"), "job-2")
                done.set()

            worker = threading.Thread(target=commit_the_next_export)
            worker.start()
            worker.join(60)
            assert done.is_set()  # the reader's open snapshot did not hold the writer up
            assert writer.data_version() == 2
            # Still export 1, through every table and view the page reads.
            assert page.execute("SELECT max(export_id) FROM exports").fetchone()[0] == 1
            assert page.execute(total).fetchone()[0] == before
            assert page.execute("SELECT count(*) FROM changes").fetchone()[0] == 0
        assert reader.data_version() == 2
        assert sql_value(reader, total) != before


def test_a_page_run_in_another_process_keeps_its_snapshot(new_lake, tmp_path):
    """Two processes: a replica holding a snapshot open, the worker committing export 2 meanwhile."""
    made = new_lake()
    with Warehouse(made) as writer:
        load(writer, golden_export().write(tmp_path / "a.json"), "job-1")
    script = f"""
import sys
from clari_data.storage.backends import LakeBackend
from clari_data.storage.warehouse import Warehouse
wh = Warehouse(LakeBackend({made.catalog!r}, {made.data_path!r}), writer=False)
with wh.snapshot() as cur:
    print(cur.execute("SELECT max(export_id) FROM exports").fetchone()[0], flush=True)
    sys.stdin.readline()  # the worker has committed export 2
    print(cur.execute("SELECT max(export_id), count(*) FROM exports").fetchone(), flush=True)
print(wh.data_version(), flush=True)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    replica = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert replica.stdout.readline().strip() == "1"
        with Warehouse(made) as writer:
            load(writer, second_export().write(tmp_path / "b.json"), "job-2")
        replica.stdin.write("go\n")
        replica.stdin.flush()
        assert replica.stdout.readline().strip() == "(1, 1)"
        assert replica.stdout.readline().strip() == "2"
        assert replica.wait(60) == 0, replica.stderr.read()
    finally:
        replica.kill()
        replica.wait()


# -- commits that lose to another process's ----------------------------------------------------


def touch(wh: Warehouse, run_id: int) -> None:
    """Another process's write to the run, committed at once."""
    with wh.transaction() as cur:
        cur.execute("UPDATE runs SET error = 'elsewhere' WHERE run_id = ?", [run_id])


def test_a_write_whose_commit_conflicts_runs_again(new_lake, tmp_path):
    made = new_lake()
    with Warehouse(made) as one, Warehouse(made) as other:
        first = one.start_run("manual")
        attempts = []

        def finish(cur):
            attempts.append(1)
            cur.execute("UPDATE runs SET outcome = 'success' WHERE run_id = ?", [first])
            if len(attempts) == 1:  # meanwhile another process changes the same table and commits first
                touch(other, first)

        one.atomically(finish)
        assert len(attempts) == 2
        assert sql_value(one, "SELECT outcome FROM runs WHERE run_id = ?", [first]) == "success"


def test_a_conflict_that_keeps_happening_is_raised(new_lake):
    made = new_lake()
    with Warehouse(made) as one, Warehouse(made) as other:
        run = one.start_run("manual")
        attempts = []

        def finish(cur):
            attempts.append(1)
            cur.execute("UPDATE runs SET outcome = 'success' WHERE run_id = ?", [run])
            touch(other, run)

        with pytest.raises(duckdb.Error) as err:
            one.atomically(finish)
        assert lake.is_conflict(err.value) and len(attempts) == 5


# -- the mirror page runs read -------------------------------------------------------------------


def copied(caplog) -> list[str]:
    found = [r.getMessage() for r in caplog.records if "table(s) copied" in r.getMessage()]
    caplog.clear()
    return found


def test_page_runs_read_a_mirror_that_copies_only_the_tables_that_changed(new_lake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="clari_data.storage.backends.lake")
    with Warehouse(new_lake()) as wh:
        load(wh, golden_export().write(tmp_path / "a.json"), "job-1")
        with wh.snapshot() as page:
            assert page.execute("SELECT current_database()").fetchone() == ("mirror",)
            assert page.execute("SELECT count(*) FROM rep_performance").fetchone() == (6,)
        tables = sql_value(wh, "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake'")
        [message] = copied(caplog)
        assert f": {tables} table(s) copied" in message  # the first copy: every table
        with wh.snapshot():
            pass
        assert copied(caplog) == []  # the lake did not move
        wh.start_run("manual")
        with wh.snapshot() as page:
            assert page.execute("SELECT count(*) FROM runs").fetchone() == (1,)
        [message] = copied(caplog)
        assert ": 1 table(s) copied" in message  # runs alone
        wh.cursor().execute("CREATE TABLE lake.main.extra (a INTEGER)")  # a newer worker's migration
        with wh.snapshot() as page:
            assert page.execute("SELECT count(*) FROM extra").fetchone() == (0,)
        [message] = copied(caplog)
        assert f": {tables + 1} table(s) copied" in message  # all of them again


def test_the_mirror_copies_everything_when_it_cannot_tell_what_changed():
    tables = {1: "runs", 2: "exports"}
    changed = lake.Mirror._changed
    assert changed([(5, {"inlined_insert": ["1"]}), (6, {"merge_adjacent": ["2"]})], 4, 6, tables) == {"runs"}
    assert changed([(6, {"inlined_insert": ["1"]})], 4, 6, tables) is None  # snapshot 5 expired
    assert changed([(5, {"tables_created": ["main.extra"]})], 4, 5, tables) is None
    assert changed([(5, {"tables_inserted_into": ["9"]})], 4, 5, tables) is None  # a table it does not know
    assert changed([(5, {"inlined_insert": ["1"]})], None, 5, tables) is None  # the first copy


def test_each_run_ends_with_a_compaction(new_lake, tmp_path):
    with Warehouse(new_lake()) as wh:
        options = dict(wh.cursor().execute("SELECT option_name, value FROM ducklake_options('lake')").fetchall())
        assert options["expire_older_than"] == "1 day" and options["delete_older_than"] == "1 day"
        run = wh.start_run("manual")
        inlined = "SELECT count(*) FROM ducklake_snapshots('lake') WHERE map_contains(changes, 'flushed_inlined')"
        assert sql_value(wh, inlined) == 0
        wh.finish_run(run, outcome="success")  # the run's rows were inlined in the catalog: now in a file
        assert sql_value(wh, inlined) == 1
        assert sql_value(wh, "SELECT outcome FROM runs") == "success"


def test_a_file_warehouse_moves_into_a_lake_with_its_history(new_lake, tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as file:
        load(file, golden_export().write(tmp_path / "a.json"), "job-1")
        load(file, second_export().write(tmp_path / "b.json"), "job-2")
        file.record_delivery(run_id=None, channel="email", kind="test", keys=(), subject="test",
                             started_at=EXPORTED, attempts=1, error=None)
        contents = file.table_contents()
        performance = sql_value(file, "SELECT sum(forecast_amount) FROM rep_performance")
    made = new_lake()
    with Warehouse(made) as lake_wh:
        counts = lake_wh.import_file(path)
        assert counts["cell_versions"] == len(contents["cell_versions"]) and counts["notification_deliveries"] == 1
        assert lake_wh.table_contents() == contents
        with pytest.raises(WarehouseError, match="already holds exports"):
            lake_wh.import_file(path)
    with Warehouse(made, writer=False) as reader, reader.snapshot() as page:
        assert page.execute("SELECT sum(forecast_amount) FROM rep_performance").fetchone()[0] == performance
        assert page.execute("SELECT count(*) FROM forecast_moves").fetchone()[0] > 0
    with Warehouse(made) as lake_wh:  # and the next load continues the history
        assert load(lake_wh, export(99).write(tmp_path / "c.json"), "job-3").export_id == 3


def test_a_page_run_keeps_its_copy_while_another_page_run_catches_the_mirror_up(new_lake, tmp_path):
    made = new_lake()
    with Warehouse(made) as writer, Warehouse(made, writer=False) as reader:
        load(writer, golden_export().write(tmp_path / "a.json"), "job-1")
        with reader.snapshot() as first:
            assert first.execute("SELECT max(export_id) FROM exports").fetchone() == (1,)
            load(writer, second_export().write(tmp_path / "b.json"), "job-2")
            with reader.snapshot() as second:  # catches the mirror up: exports, cells and the rest copied again
                assert second.execute("SELECT max(export_id) FROM exports").fetchone() == (2,)
                assert second.execute("SELECT count(*) FROM changes").fetchone()[0] > 0
            assert first.execute("SELECT max(export_id) FROM exports").fetchone() == (1,)
            assert first.execute("SELECT count(*) FROM changes").fetchone() == (0,)
            assert first.execute("SELECT sum(commit_amount) FROM latest_week_values").fetchone() == (6 * 90,)


def test_a_reader_of_a_lake_the_worker_has_not_migrated_says_so(new_lake):
    made = new_lake()
    con = duckdb.connect(":memory:", config=lake.OFFLINE)
    lake.attach(con, made, writer=True)  # a lake with none of the warehouse's tables
    con.close()
    text = opening_error(made, writer=False)
    assert "has no warehouse tables yet" in text and "python -m clari_data worker" in text
    with Warehouse(made) as writer:
        writer.cursor().execute("DELETE FROM schema_migrations WHERE version = 11")  # as an older worker left it
    text = opening_error(made, writer=False)
    assert "lacks migration 011" in text and "worker of this version first" in text
