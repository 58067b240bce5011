"""The warehouse on real DuckDB files: loads, history, idempotency, atomicity, validation."""

import json
from datetime import datetime

import duckdb
import pytest
from builders import Export, small_org
from test_views import EXPORTED, golden_export, second_export

from clari_data import warehouse as warehouse_module
from clari_data.config import AlertSettings
from clari_data.warehouse import ExportRejected, Warehouse, WarehouseBusy
from clari_data.warehouse import loads as loads_module


def load(wh, path, job="job-1", period="2026_Q1", **kw):
    return wh.load_export(path, forecast_id="net_arr", job_id=job, requested_period=period,
                          exported_at=kw.pop("exported_at", EXPORTED), **kw)


def count(wh, sql, params=None):
    return wh.cursor().execute(sql, params or []).fetchone()[0]


def test_migrations_apply_once_and_reopen(tmp_path):
    path = tmp_path / "w.duckdb"
    Warehouse(path).close()
    with Warehouse(path) as wh:
        versions = [r[0] for r in wh.cursor().execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
        assert versions == sorted({int(p.name.split("_")[0]) for p in (warehouse_module.SQL_DIR / "migrations").glob("*.sql")})
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
    with Warehouse(wh.path) as reopened:  # as after a process died mid-run
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
