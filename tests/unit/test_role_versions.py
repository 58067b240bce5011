"""The role values' history (migration 011, role_value_versions): each load keeps it beside
current_role_values, so the versions valid at any export are what the live table held right after
that export's load; a load adds versions only for the rows it changed; and a change of field roles
(or the migration) rebuilds it whole, in one pass over the cell history, as the loads would have kept it."""

from datetime import datetime

import pytest
from builders import Export, small_org

from clari_data.shared.config import FieldRoles
from clari_data.storage.warehouse import ExportRejected, Warehouse

W1, W2, W3 = "2026-03-09", "2026-03-16", "2026-03-23"
COLUMNS = ("forecast_id, time_period, time_frame_id, user_id, commit_amount, commit_call_amount, "
           "commit_adjustment_amount, commit_is_updated, best_case_amount, quota_amount, closed_amount, "
           "pipeline_amount, is_latest_week")


def rows(wh: Warehouse, sql: str, params: dict | None = None) -> list[tuple]:
    return sorted(wh.cursor().execute(sql, params or {}).fetchall(), key=repr)


def versions_at(wh: Warehouse, export_id: int) -> list[tuple]:
    forecast, period = wh.cursor().execute(
        "SELECT forecast_id, time_period FROM exports WHERE export_id = $e", {"e": export_id}).fetchone()
    return rows(wh, f"SELECT {COLUMNS} FROM role_value_versions WHERE forecast_id = $f AND time_period = $p "
                    "AND valid_from <= $e AND (valid_to IS NULL OR valid_to > $e)",
                {"f": forecast, "p": period, "e": export_id})


def current_rows(wh: Warehouse, export_id: int) -> list[tuple]:
    """What the live table holds for an export's forecast and period (right after its load, what
    the pages showed then)."""
    forecast, period = wh.cursor().execute(
        "SELECT forecast_id, time_period FROM exports WHERE export_id = $e", {"e": export_id}).fetchone()
    return rows(wh, f"SELECT {COLUMNS} FROM current_role_values WHERE forecast_id = $f AND time_period = $p",
                {"f": forecast, "p": period})


def assert_history_complete(wh: Warehouse, shown: dict[int, list[tuple]]) -> None:
    assert shown
    for export_id, expected in shown.items():
        assert versions_at(wh, export_id) == expected, f"export {export_id}"
    # The open versions are exactly the live table.
    assert rows(wh, f"SELECT {COLUMNS} FROM role_value_versions WHERE valid_to IS NULL") == \
        rows(wh, f"SELECT {COLUMNS} FROM current_role_values")


def export(period: str, weeks: list[str], commit: float, *, drop_rob: bool = False, move_rex: float = 0) -> Export:
    e = Export(period=period, users=small_org(), weeks=weeks)
    for i, week in enumerate(weeks):
        for n, who in enumerate(("cro", "m1", "m2", "r1", "r2", "r3")):
            if drop_rob and who == "r3" and week == weeks[-1]:
                continue
            extra = move_rex if who == "r1" and week == weeks[-1] else 0
            e.row(who, week, commit=commit + 10 * n + i + extra, best_case=200 + n, quota=300, closed=50 * i,
                  pipeline=400 + n, **({"adjustmentValue": commit + 1} if who == "r2" else {}))
    return e


def load(wh: Warehouse, e: Export, path, job: str, period: str | None, day: int) -> int:
    result = wh.load_export(e.write(path), forecast_id="net_arr", job_id=job, requested_period=period,
                            exported_at=datetime(2026, 3, day, 20))
    assert result.status == "loaded"
    return result.export_id


def history(wh: Warehouse, tmp_path) -> dict[int, list[tuple]]:
    """Five loads; what the live table held for each export's forecast and period right after it."""
    shown = {}
    for e, job, period, day in (
        (export("2026_Q1", [W1], 100), "j1", None, 10),
        (export("2026_Q1", [W1, W2], 110), "j2", None, 17),  # a new week: the latest moves
        (export("2026_Q1", [W1, W2], 110, move_rex=5), "j3", None, 18),  # one row moves
        (export("2025_Q4", [W3], 90), "j4", "2025_Q4", 19),  # another period
        (export("2026_Q1", [W1, W2], 120, drop_rob=True), "j5", None, 20),  # a row goes
    ):
        export_id = load(wh, e, tmp_path / f"{job}.json", job, period, day)
        shown[export_id] = current_rows(wh, export_id)
    return shown


def test_the_versions_valid_at_each_export_are_its_pivot(wh, tmp_path):
    assert_history_complete(wh, history(wh, tmp_path))
    # Rob's latest-week row went in export 5: its version ended there, none replaces it.
    assert rows(wh, "SELECT valid_from, valid_to FROM role_value_versions "
                    "WHERE user_id = 'r3' AND time_frame_id = $w ORDER BY valid_from", {"w": f"TF:{W2}"}) == [(2, 5)]


def test_a_load_adds_versions_only_for_the_rows_it_changed(wh, tmp_path):
    load(wh, export("2026_Q1", [W1, W2], 110), tmp_path / "1.json", "j1", None, 17)
    before = rows(wh, "SELECT * FROM role_value_versions")
    assert len(before) == 12  # 6 people x 2 weeks
    load(wh, export("2026_Q1", [W1, W2], 110, move_rex=5), tmp_path / "2.json", "j2", None, 18)
    after = rows(wh, "SELECT * FROM role_value_versions")
    # Rex's latest-week commit moved: his old row is closed at export 2 and one new row opens.
    assert len(after) == 13
    moved = rows(wh, "SELECT user_id, time_frame_id, valid_from, valid_to, commit_amount FROM role_value_versions "
                     "WHERE valid_from = 2 OR valid_to = 2")
    assert moved == [("r1", f"TF:{W2}", 1, 2, 141.0), ("r1", f"TF:{W2}", 2, None, 146.0)]


def test_a_rejected_load_leaves_the_history_as_it_was(wh, tmp_path):
    load(wh, export("2026_Q1", [W1], 100), tmp_path / "1.json", "j1", None, 10)
    before = rows(wh, "SELECT * FROM role_value_versions")
    bad = export("2026_Q1", [W1], 150)
    document = bad.document()
    document["timeFrames"] = None  # no week list: refused
    with pytest.raises(ExportRejected):
        wh.load_export(bad.write(tmp_path / "bad.json", document), forecast_id="net_arr", job_id="j2",
                       requested_period=None, exported_at=datetime(2026, 3, 11))
    assert rows(wh, "SELECT * FROM role_value_versions") == before


@pytest.mark.slow
def test_changed_field_roles_rebuild_the_history_as_the_loads_would_have_kept_it(place, tmp_path):
    swapped = FieldRoles(commit="fc_best_case", best_case="fc_commit")
    with Warehouse(place("a")) as wh:
        history(wh, tmp_path)
    with Warehouse(place("a"), roles=swapped) as wh:
        rebuilt = rows(wh, "SELECT * FROM role_value_versions")
    with Warehouse(place("b"), roles=swapped) as wh:
        (tmp_path / "b").mkdir()
        shown = history(wh, tmp_path / "b")
        assert rows(wh, "SELECT * FROM role_value_versions") == rebuilt
        assert_history_complete(wh, shown)


def test_a_warehouse_from_before_the_history_gets_it_filled_at_open(place, tmp_path):
    path = place()
    with Warehouse(path) as wh:
        shown = history(wh, tmp_path)
        expected = rows(wh, "SELECT * FROM role_value_versions")
        cur = wh.cursor()
        cur.execute("DROP TABLE role_value_versions")
        cur.execute("DELETE FROM schema_migrations WHERE version = 11")
    with Warehouse(path) as wh:
        assert rows(wh, "SELECT * FROM role_value_versions") == expected
        assert_history_complete(wh, shown)
