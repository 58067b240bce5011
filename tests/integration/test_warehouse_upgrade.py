"""An existing warehouse upgrades in place: a file written by the code before the warehouse became a
package (commit 0ed633e, migrations 001-007, views created by migrations) opens with today's code,
keeps every row, answers every view with the same columns and rows, and takes new loads.

The fixture tests/fixtures/warehouse_0ed633e.duckdb.gz (DuckDB 1.5.5) was made with
`git worktree add /tmp/old 0ed633e`, then, in /tmp/old with this repository's virtualenv,
`PYTHONPATH=/tmp/old python /work/main/tests/fixtures/make_warehouse_0ed633e.py out/v7.duckdb`
(two demo refreshes of an 8-user simulated org with the clock at 2026-11-17 10:00 UTC, forecast
net_arr, current quarter plus one back; then notification state and two deliveries written by that
commit's notify._pending/_record), and `gzip -9 out/v7.duckdb` (DuckDB files are mostly empty
blocks: 7.6 MB on disk, 37 kB gzipped).
"""

import gzip
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from builders import Export, small_org

from clari_data.read import analytics
from clari_data.storage.warehouse import SQL_DIR, Warehouse, WarehouseError

FIXTURE = Path(__file__).parent.parent / "fixtures" / "warehouse_0ed633e.duckdb.gz"

TABLES = ("exports", "users", "fields", "time_periods", "time_frames", "cell_versions", "changes", "runs",
          "export_attempts", "export_jobs", "demo_clock", "notification_state", "notification_deliveries",
          "field_roles", "current_role_values", "schema_migrations")
VIEWS = ("user_directory", "latest_exports", "week_numbers", "current_cells", "live_role_values", "role_values",
         "latest_week_values", "pipeline_coverage", "rep_performance", "forecast_accuracy", "forecast_moves",
         "forecast_changes")


@pytest.fixture
def old_file(tmp_path) -> Path:
    path = tmp_path / "old.duckdb"
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def contents(con, names) -> dict[str, list[tuple]]:
    return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def columns(con, names) -> dict[str, list[tuple]]:
    return {n: [(r[0], r[1]) for r in con.execute(f"DESCRIBE {n}").fetchall()] for n in names}


def test_a_warehouse_made_by_the_old_code_upgrades_in_place(old_file, tmp_path):
    con = duckdb.connect(str(old_file), read_only=True)
    rows_before, views_before, view_columns_before = contents(con, TABLES), contents(con, VIEWS), columns(con, VIEWS)
    con.close()
    assert len(rows_before["exports"]) == 3 and len(rows_before["changes"]) > 0
    assert len(rows_before["notification_state"]) == 2 and len(rows_before["notification_deliveries"]) == 2

    with Warehouse(old_file) as wh:
        cur = wh.cursor()
        rows_after = contents(cur, TABLES)
        migrations = sorted(rows_after.pop("schema_migrations"))  # by version: repr sorts 10 before 2
        newest = max(int(p.name[:3]) for p in (SQL_DIR / "migrations").glob("*.sql"))
        assert [m[0] for m in migrations] == list(range(1, newest + 1))
        assert migrations[:7] == rows_before.pop("schema_migrations")
        assert rows_after == {t: r for t, r in rows_before.items() if t != "schema_migrations"}
        assert columns(cur, VIEWS) == view_columns_before
        assert contents(cur, VIEWS) == views_before  # the same answers, rep statuses included
        assert cur.execute("SELECT * FROM rep_status_cutoffs").fetchall() == [(1, 70.0, 90.0)]
        # The role values' history (migration 011) is filled from the cells: one version of each row
        # valid at every export, the open ones the current table, earlier ones where the exports moved.
        for export_id, forecast, period in cur.execute(
                "SELECT export_id, forecast_id, time_period FROM exports").fetchall():
            valid = cur.execute("SELECT count(*), count(DISTINCT (time_frame_id, user_id)) FROM role_value_versions "
                                "WHERE forecast_id = $f AND time_period = $p AND valid_from <= $e "
                                "AND (valid_to IS NULL OR valid_to > $e)",
                                {"f": forecast, "p": period, "e": export_id}).fetchone()
            assert valid[0] > 0 and valid[0] == valid[1]
        assert cur.execute("SELECT count(*) FROM role_value_versions WHERE valid_to IS NOT NULL").fetchone()[0] > 0
        assert contents(cur, ["(SELECT * EXCLUDE (valid_from, valid_to) FROM role_value_versions "
                              "WHERE valid_to IS NULL)"]).popitem()[1] == rows_after["current_role_values"]

        # The operational state carries on: the delivered keys are not pending again, a new one is.
        firing = wh.notification_firing("slack", {"stale|dashboard|data": "stale", "coverage|x|y": "coverage"},
                                        datetime(2026, 11, 20, 10, 0))
        assert firing == {"coverage|x|y"}
        assert len(wh.notification_history(10)) == 2
        assert wh.latest_current_period("net_arr") == "2026_Q4"
        assert wh.start_run("cli") == max(r[0] for r in rows_before["runs"]) + 1

        # New loads on top: a new period, then a second export of it with moves.
        first = Export(period="2026_Q1", users=small_org(), weeks=["2026-03-23"])
        second = Export(period="2026_Q1", users=small_org(), weeks=["2026-03-23"])
        for who, commit in (("r1", 90_000), ("r2", 150_000), ("m1", 240_000), ("cro", 340_000)):
            first.row(who, "2026-03-23", commit=commit, quota=300_000, closed=100_000, pipeline=500_000)
            second.row(who, "2026-03-23", commit=commit + (1_000 if who == "r2" else 20_000), quota=300_000,
                       closed=100_000, pipeline=500_000)
        loaded = [wh.load_export(e.write(tmp_path / f"{i}.json"), forecast_id="net_arr", job_id=f"new-{i}",
                                 requested_period="2026_Q1", exported_at=datetime(2026, 11, 20 + i))
                  for i, e in enumerate((first, second))]
        assert [r.status for r in loaded] == ["loaded", "loaded"]
        assert loaded[0].export_id == max(r[0] for r in rows_before["exports"]) + 1
        # At the default thresholds only Rex's +20,000 on 90,000 counts: Ria's +1,000 is under 5,000,
        # Mia's and Cleo's +20,000 are under 10%.
        assert loaded[1].cells_changed == 4 and loaded[1].changes_detected == 1
        sel = analytics.Selection("net_arr", "2026_Q1")
        assert analytics.headline_of(analytics.weekly_totals(wh, sel)).commit == 360_000
        assert len(analytics.performance_members(wh, sel)) == 4
        assert analytics.data_status(wh).data_version == loaded[1].export_id


def test_a_warehouse_written_by_duckdb_2_is_refused_untouched_with_what_to_do(tmp_path):
    """tests/fixtures/warehouse_duckdb2.duckdb.gz is the same 0ed633e warehouse written by DuckDB 2.0,
    which DuckDB 1.5 cannot read: the open says so and names the conversion, and changes nothing."""
    path = tmp_path / "v2.duckdb"
    with gzip.open(FIXTURE.with_name("warehouse_duckdb2.duckdb.gz")) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    before = path.read_bytes()
    with pytest.raises(WarehouseError) as raised:
        Warehouse(path)
    message = str(raised.value)
    assert "newer DuckDB (2.0)" in message and f"scripts/convert-warehouse {path}" in message
    assert "Traceback" not in message
    assert path.read_bytes() == before
