"""The warehouse on real DuckDB files and real DuckLakes (tests taking `wh` or `place` run on
both backends): loads, history, idempotency, atomicity, validation."""

import json
from datetime import datetime

import duckdb
import pytest
from builders import Export, small_org
from test_views import EXPORTED, golden_export, second_export

from clari_data.storage import warehouse as warehouse_module
from clari_data.storage.warehouse import ExportRejected, Warehouse, WarehouseBusy
from clari_data.storage.warehouse import loads as loads_module


def load(wh, path, job="job-1", period="2026_Q1", **kw):
    return wh.load_export(path, forecast_id="net_arr", job_id=job, requested_period=period,
                          exported_at=kw.pop("exported_at", EXPORTED), **kw)


def count(wh, sql, params=None):
    return wh.cursor().execute(sql, params or []).fetchone()[0]


def test_migrations_apply_once_and_reopen(place):
    path = place(empty=True)
    Warehouse(path).close()
    with Warehouse(path) as wh:
        versions = [r[0] for r in wh.cursor().execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
        migrations = (warehouse_module.SQL_DIR / "migrations").glob("*.sql")
        assert versions == sorted({int(p.name.split("_")[0]) for p in migrations})
        assert count(wh, "SELECT count(*) FROM field_roles") == 5


def test_load_the_same_export_twice_changes_nothing(wh, tmp_path):
    path = golden_export().write(tmp_path / "a.json")
    first = load(wh, path)
    before = wh.table_contents()
    assert first.status == "loaded" and first.cells == 60
    again = load(wh, path)  # the same job
    assert again.status == "unchanged" and again.export_id == first.export_id
    same_file_new_job = load(wh, path, job="job-2")  # Clari answered a new job with identical data
    assert same_file_new_job.status == "unchanged"
    assert wh.table_contents() == before


def test_history_reconstructs_each_export_and_grows_with_changes(wh, tmp_path):
    first = load(wh, golden_export().write(tmp_path / "a.json"))
    second = load(wh, second_export().write(tmp_path / "b.json"), job="job-2")
    # 5 cells changed: the W2 commits of r1, r2, m1 and cro, and r3's closed won.
    assert second.cells_changed == 5 and second.cells_added == 0 and second.cells_removed == 0
    assert count(wh, "SELECT count(*) FROM cell_versions") == 60 + 5  # storage follows changes
    state_at = """SELECT forecast_value FROM cells_at_export('net_arr', '2026_Q1', ?)
                  WHERE user_id = 'r1' AND field_id = 'fc_commit' AND time_frame_id = 'TF:2026-03-23'"""
    assert count(wh, state_at, [first.export_id]) == 90
    assert count(wh, state_at, [second.export_id]) == 100
    assert count(wh, "SELECT count(*) FROM cells_at_export('net_arr', '2026_Q1', ?)", [first.export_id]) == 60


def test_a_cell_dropped_from_the_next_export_is_closed_not_deleted(wh, tmp_path):
    load(wh, golden_export().write(tmp_path / "a.json"))
    smaller = golden_export()
    smaller.entries = [e for e in smaller.entries if e["userId"] != "r3"]
    result = load(wh, smaller.write(tmp_path / "b.json"), job="job-2")
    assert result.cells_removed == 10
    assert count(wh, "SELECT count(*) FROM current_cells WHERE user_id = 'r3'") == 0
    assert count(wh, "SELECT count(*) FROM cell_versions WHERE user_id = 'r3'") == 10


def test_value_keys_missing_or_unknown_do_not_break_the_load(wh, tmp_path):
    e = Export(users=small_org(), weeks=["2026-03-23"])
    e.row("r1", "2026-03-23", commit=90, quota=100, somethingNew={"a": 1})  # no adjustment, no CRM keys at all
    document = e.document()
    document["newTopLevel"] = [1, 2, 3]
    result = load(wh, e.write(tmp_path / "a.json", document))
    assert result.status == "loaded" and result.cells == 2 and result.warnings == ()


def test_amount_problems_are_loaded_with_warnings(wh, tmp_path):
    e = Export(users=small_org(), weeks=["2026-03-23"])
    e.set("r1", "2026-03-23", "fc_commit", "n/a")
    e.set("r2", "2026-03-23", "fc_commit", 1e300)
    e.set("r3", "2026-03-23", "fc_commit", -5000)
    e.set("m1", "2026-03-23", "fc_commit", None)
    e.set("m1", "2026-03-23", "fc_commit", 7)  # a duplicate cell: the first is kept
    e.set("ghost", "2026-03-23", "fc_commit", 1)
    e.entries.append({"userId": "r1", "fieldId": "fc_mystery", "timePeriodId": "2026_Q1",
                      "timeFrameId": "TF:2026-03-23", "forecastValue": 1})
    e.entries.append({"userId": "r1", "fieldId": "fc_commit", "timePeriodId": "2026_Q1",
                      "timeFrameId": "TF:1999-01-01", "forecastValue": 1})
    result = load(wh, e.write(tmp_path / "a.json"))
    text = " | ".join(result.warnings)
    for expected in ("1 amount(s) were not numbers", "1 amount(s) were not finite or implausibly large",
                     "1 amount(s) were negative", "named a user not in", "named a field not in",
                     "named a week not in", "1 duplicate"):
        assert expected in text
    values = dict(wh.cursor().execute("SELECT user_id, forecast_value FROM current_cells").fetchall())
    assert values == {"r1": None, "r2": None, "r3": -5000, "m1": None}
    stored = wh.cursor().execute("SELECT warnings FROM exports").fetchone()[0]
    assert list(result.warnings) == stored


@pytest.mark.parametrize("mutate, kind", [
    (lambda d: d.pop("entries"), "missing_list"),
    (lambda d: d.pop("users"), "missing_list"),
    (lambda d: d.update(entries=[]), "empty"),
    (lambda d: d["timePeriods"][0].update(timePeriodId="2026_Q4"), "period_fallback"),
])
def test_untrustworthy_exports_are_refused_and_change_nothing(wh, tmp_path, mutate, kind):
    load(wh, golden_export().write(tmp_path / "good.json"))
    before = wh.table_contents()
    document = second_export().document()
    mutate(document)
    with pytest.raises(ExportRejected) as err:
        load(wh, second_export().write(tmp_path / "bad.json", document), job="job-bad")
    assert err.value.kind == kind
    assert wh.table_contents() == before


@pytest.mark.parametrize("text", ['{"entries": [{"userId": "r1"', "not json at all", "[1, 2, 3]", ""])
def test_broken_files_are_refused(wh, tmp_path, text):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ExportRejected) as err:
        load(wh, path)
    assert err.value.kind in ("invalid_json", "missing_list")
    assert count(wh, "SELECT count(*) FROM exports") == 0


def test_truncated_export_is_refused(wh, tmp_path):
    with pytest.raises(ExportRejected) as err:
        load(wh, golden_export().write(tmp_path / "a.json"), rows_truncated=True)
    assert err.value.kind == "truncated" and "rowsTruncated" in str(err.value)


def test_a_failure_mid_load_rolls_everything_back(wh, tmp_path, monkeypatch):
    load(wh, golden_export().write(tmp_path / "a.json"))
    before = wh.table_contents()
    statements = dict(warehouse_module.sql_statements("load.sql"))
    statements["open_versions"] = "SELECT * FROM no_such_table"  # fails after versions were closed
    monkeypatch.setattr(loads_module, "sql_statements", lambda name: statements)
    with pytest.raises(duckdb.Error):
        load(wh, second_export().write(tmp_path / "b.json"), job="job-2")
    assert wh.table_contents() == before


def test_a_second_process_gets_a_clear_busy_message(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
                               "print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusy) as err:
            Warehouse(path)
        assert f"process {holder.pid}" in str(err.value) and "Traceback" not in str(err.value)
    finally:
        holder.kill()
        holder.wait()


def test_runs_and_attempts_are_recorded(wh):
    run = wh.start_run("manual", "ana@example.com", pid=123)
    wh.record_attempt(run, forecast_id="net_arr", requested_period=None, started_at=datetime(2026, 1, 1),
                      status="failed", failure_kind="quota_reached", error="quota used up")
    wh.finish_run(run, outcome="failed", error="quota used up")
    row = wh.cursor().execute("SELECT trigger, requested_by, outcome, error FROM runs").fetchone()
    assert row == ("manual", "ana@example.com", "failed", "quota used up")
    other = wh.start_run("schedule")
    wh.close()
    with Warehouse(wh.backend) as reopened:  # as after a process died mid-run
        assert count(reopened, "SELECT outcome FROM runs WHERE run_id = ?", [other]) == "failed"


def test_in_flight_jobs_are_remembered(wh):
    wh.remember_job("abc", "net_arr", None)
    assert wh.in_flight_job("net_arr", None) == "abc"
    assert wh.in_flight_job("net_arr", "2026_Q1") is None
    wh.set_job_status("abc", "loaded")
    assert wh.in_flight_job("net_arr", None) is None


def test_file_is_read_by_duckdb_from_disk(wh, tmp_path):
    """The loader reads the file itself: a document larger than DuckDB's default 16 MB object limit loads."""
    e = Export(users=small_org(), weeks=[f"2026-{m:02d}-{d:02d}" for m in (1, 2, 3) for d in (5, 12, 19, 26)])
    for week in e.weeks:
        for u in ("r1", "r2", "r3", "m1", "m2", "cro"):
            e.row(u, week, commit=1, best_case=2, quota=3, closed=4, pipeline=5)
    document = e.document()
    document["padding"] = "x" * (17 * 1024 * 1024)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))
    assert load(wh, path).cells == 12 * 6 * 5


# -- one transaction helper -------------------------------------------------------------------


def test_a_transaction_commits_at_the_end_and_rolls_back_on_an_error(wh):
    with wh.transaction() as cur:
        cur.execute("INSERT INTO demo_clock (id, sim_now) VALUES (1, ?)", [datetime(2026, 1, 1)])
    assert wh.demo_clock() == datetime(2026, 1, 1)
    with pytest.raises(RuntimeError), wh.transaction() as cur:
        cur.execute("UPDATE demo_clock SET sim_now = ?", [datetime(2030, 1, 1)])
        raise RuntimeError("half done")
    assert wh.demo_clock() == datetime(2026, 1, 1)


def test_writes_from_threads_are_serialised(wh):
    import threading

    runs: list[int] = []
    threads = [threading.Thread(target=lambda: runs.append(wh.start_run("manual"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(runs) == list(range(1, 9))  # max + 1 ids under the one lock: none repeated


# -- what a refresh asks ----------------------------------------------------------------------


def test_latest_current_period_is_what_clari_answered_for_the_current_quarter(wh, tmp_path):
    assert wh.latest_current_period("net_arr") is None
    load(wh, golden_export().write(tmp_path / "a.json"), period=None)  # asked for the current quarter
    assert wh.latest_current_period("net_arr") == "2026_Q1"
    assert wh.latest_current_period("other") is None


def test_a_period_exported_after_the_day_after_its_end_is_final(wh, tmp_path):
    assert not wh.is_period_final("net_arr", "2026_Q1")
    load(wh, golden_export().write(tmp_path / "a.json"), exported_at=datetime(2026, 3, 31, 23))  # its last day
    assert not wh.is_period_final("net_arr", "2026_Q1")  # Clari allows edits until the morning after
    load(wh, second_export().write(tmp_path / "b.json"), job="job-2", exported_at=datetime(2026, 4, 1, 0, 1))
    assert wh.is_period_final("net_arr", "2026_Q1")
    assert not wh.is_period_final("other", "2026_Q1")


# -- notification state -----------------------------------------------------------------------


def test_a_key_is_pending_once_per_firing_streak(wh):
    t = [datetime(2026, 1, 1, h) for h in range(6)]
    rules = {"coverage|a|x": "coverage", "change|a|y": "change"}
    assert wh.notification_firing("slack", rules, t[0]) == set(rules)
    delivery = wh.record_delivery(run_id=1, channel="slack", kind="alerts", keys=("coverage|a|x",),
                                  subject="1 alert", started_at=t[0], attempts=1, error=None)
    assert delivery == 1
    # Delivered keys are not pending while they keep firing; the undelivered one still is.
    assert wh.notification_firing("slack", rules, t[1]) == {"change|a|y"}
    assert wh.notification_firing("email", rules, t[1]) == set(rules)  # each channel on its own
    # coverage clears, then fires again: a new streak, pending again.
    assert wh.notification_firing("slack", {"change|a|y": "change"}, t[2]) == {"change|a|y"}
    state = wh.notification_state("slack").set_index("alert_key")
    assert state.loc["coverage|a|x", "status"] == "cleared"
    assert wh.notification_firing("slack", rules, t[3]) == set(rules)
    # A failed delivery marks nothing sent, and is recorded with its error.
    assert wh.record_delivery(run_id=2, channel="slack", kind="alerts", keys=tuple(rules), subject="2 alerts",
                              started_at=t[3], attempts=3, error="HTTP 503") == 2
    assert wh.notification_firing("slack", rules, t[4]) == set(rules)
    history = wh.notification_history(10)
    assert history["delivery_id"].tolist() == [2, 1] and history["outcome"].tolist() == ["failed", "sent"]
    assert history["error"].tolist()[0] == "HTTP 503" and history["alerts"].tolist() == [2, 1]


def test_a_test_message_marks_no_alert_sent(wh):
    now = datetime(2026, 1, 1)
    wh.notification_firing("email", {"stale|dashboard|data": "stale"}, now)
    wh.record_delivery(run_id=None, channel="email", kind="test", keys=(), subject="test", started_at=now,
                       attempts=1, error=None)
    assert wh.notification_firing("email", {"stale|dashboard|data": "stale"}, now) == {"stale|dashboard|data"}


# -- where the SQL lives ----------------------------------------------------------------------

SQL_DIR = warehouse_module.SQL_DIR


def sql_files(folder: str = ""):
    return sorted((SQL_DIR / folder).rglob("*.sql"))


def test_migrations_hold_tables_and_data_views_and_macros_their_current_definition():
    import re

    for path in sql_files("migrations"):
        text = re.sub(r"--[^\n]*", "", path.read_text()).upper()
        assert "VIEW" not in text and "MACRO" not in text, path.name
    for path in sql_files("views"):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        creates = re.findall(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(\w+)", text, re.IGNORECASE)
        assert creates and all(c.upper() in ("VIEW", "MACRO") for c in creates), path.name
        assert len(re.findall(r"\bCREATE\s+OR\s+REPLACE\b", text, re.IGNORECASE)) == len(creates), path.name


def test_every_insert_names_its_columns():
    import re

    for path in sql_files():
        text = re.sub(r"--[^\n]*", "", path.read_text())
        for target in re.finditer(r"\bINSERT\s+(?:OR\s+REPLACE\s+)?INTO\s+\w+\s*(\S+)", text, re.IGNORECASE):
            assert target.group(1).startswith("(") or target.group(1).upper() == "BY", (path.name, target.group(0))


def test_the_warehouse_code_holds_no_sql():
    import re
    from pathlib import Path

    package = Path(warehouse_module.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text()
        for keyword in ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE "):
            assert not re.search(rf"[\"']{keyword}", text), (path.name, keyword)


def test_every_view_is_recreated_from_its_file(tmp_path):
    """(A lake's views live in each process's memory, made from the files at every open.)"""
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        wh.cursor().execute("CREATE OR REPLACE VIEW pipeline_coverage AS SELECT 1 AS stale_definition")
    with Warehouse(path) as wh:
        names = [d[0] for d in wh.cursor().execute("SELECT * FROM pipeline_coverage").description]
        assert "coverage_ratio" in names and "stale_definition" not in names


def test_tenant_facts_are_remembered_across_opens(place):
    path = place()
    with Warehouse(path) as wh:
        assert wh.tenant_fact("crm_types_refused") is None
        wh.remember_tenant_fact("crm_types_refused", "true")
    with Warehouse(path) as wh:
        assert wh.tenant_fact("crm_types_refused") == "true"


def test_export_record_storage_and_memory_limit(place, tmp_path):
    with Warehouse(place(), memory_limit="512MB") as wh:
        assert wh.export_record("job-1") is None
        loaded = load(wh, golden_export().write(tmp_path / "a.json"))
        record = wh.export_record("job-1")
        assert record["export_id"] == loaded.export_id and record["cells"] == 60 and record["status"] == "loaded"
        storage = wh.storage()
        assert 0 < storage["used_bytes"] <= storage["file_bytes"]
        assert "MiB" in wh.memory_limit() or "MB" in wh.memory_limit()
