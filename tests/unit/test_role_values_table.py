"""`role_values` and `latest_week_values` read a table kept by each load (migration 004,
sql/views/14_role_values.sql): it must always hold exactly what pivoting the current cells live gives."""

from datetime import datetime

import pytest
from builders import Export, small_org

from clari_data.shared.config import FieldRoles
from clari_data.storage.warehouse import ExportRejected, Warehouse

W1, W2, W3 = "2026-03-09", "2026-03-16", "2026-03-23"
LIVE_LATEST = """SELECT * FROM live_role_values
                 QUALIFY time_frame_id = max(time_frame_id) OVER (PARTITION BY forecast_id, time_period)"""


def rows(wh: Warehouse, sql: str) -> list[tuple]:
    return sorted(wh.cursor().execute(sql).fetchall(), key=repr)


def value(wh: Warehouse, sql: str):
    return wh.cursor().execute(sql).fetchone()[0]


def assert_matches_live(wh: Warehouse) -> None:
    assert rows(wh, "SELECT * FROM role_values") == rows(wh, "SELECT * FROM live_role_values")
    assert rows(wh, "SELECT * FROM latest_week_values") == rows(wh, LIVE_LATEST)


def export(period: str, weeks: list[str], commit: float, *, drop_rob: bool = False) -> Export:
    e = Export(period=period, users=small_org(), weeks=weeks)
    for i, week in enumerate(weeks):
        for n, who in enumerate(("cro", "m1", "m2", "r1", "r2", "r3")):
            if drop_rob and who == "r3" and week == weeks[-1]:
                continue
            e.row(who, week, commit=commit + 10 * n + i, best_case=200 + n, quota=300, closed=50 * i,
                  pipeline=400 + n, **({"adjustmentValue": commit + 1} if who == "r2" else {}))
    return e


def load(wh: Warehouse, e: Export, path, job: str, period: str | None, day: int) -> None:
    result = wh.load_export(e.write(path), forecast_id="net_arr", job_id=job, requested_period=period,
                            exported_at=datetime(2026, 3, day, 20))
    assert result.status == "loaded"


def described(wh: Warehouse, relation: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind, *_ in wh.cursor().execute(f"DESCRIBE {relation}").fetchall()]


def test_the_pivot_gives_the_tables_columns_in_their_order(wh):
    # role_pivot (14_role_values.sql) defines the role columns; migrations 004 and 011 declared the
    # tables' and stay as they ran. load.sql compares the two with EXCEPT, by position.
    live = described(wh, "live_role_values")
    assert live[:4] == [(key, "VARCHAR") for key in ("forecast_id", "time_period", "time_frame_id", "user_id")]
    assert described(wh, "current_role_values") == live + [("is_latest_week", "BOOLEAN")]
    versions = [c for c in described(wh, "role_value_versions") if c[0] not in ("valid_from", "valid_to")]
    assert versions == live + [("is_latest_week", "BOOLEAN")]


def test_the_table_follows_every_load(wh, tmp_path):
    assert rows(wh, "SELECT * FROM role_values") == []
    load(wh, export("2026_Q1", [W1], 100), tmp_path / "1.json", "j1", None, 10)
    assert_matches_live(wh)
    load(wh, export("2026_Q1", [W1, W2], 110), tmp_path / "2.json", "j2", None, 17)  # a new week: latest moves
    assert_matches_live(wh)
    load(wh, export("2026_Q1", [W1, W2], 120, drop_rob=True), tmp_path / "3.json", "j3", None, 18)  # a row goes
    assert_matches_live(wh)
    load(wh, export("2025_Q4", [W3], 90), tmp_path / "4.json", "j4", "2025_Q4", 19)  # another period
    assert_matches_live(wh)
    assert value(wh, "SELECT count(*) FROM latest_week_values WHERE time_period = '2026_Q1'") == 5  # Rob went
    assert value(wh, "SELECT count(DISTINCT time_period) FROM role_values") == 2


def test_a_rejected_load_leaves_the_table_as_it_was(wh, tmp_path):
    load(wh, export("2026_Q1", [W1], 100), tmp_path / "1.json", "j1", None, 10)
    before = rows(wh, "SELECT * FROM current_role_values")
    bad = export("2026_Q1", [W1], 150)
    document = bad.document()
    document["timeFrames"] = None  # no week list: refused
    with pytest.raises(ExportRejected):
        wh.load_export(bad.write(tmp_path / "bad.json", document), forecast_id="net_arr", job_id="j2",
                       requested_period=None, exported_at=datetime(2026, 3, 11))
    assert rows(wh, "SELECT * FROM current_role_values") == before


def test_changed_field_roles_rebuild_the_table(place, tmp_path):
    path = place()
    with Warehouse(path) as wh:
        load(wh, export("2026_Q1", [W1, W2], 100), tmp_path / "1.json", "j1", None, 17)
        commit_before = value(wh, "SELECT sum(commit_amount) FROM role_values")
    # The tenant's best case field now plays the commit role.
    with Warehouse(path, roles=FieldRoles(commit="fc_best_case", best_case="fc_commit")) as wh:
        assert_matches_live(wh)
        assert value(wh, "SELECT sum(commit_amount) FROM role_values") != commit_before


def test_migration_fills_the_table_from_existing_history(tmp_path):
    """A warehouse from before migration 004 gets the table filled from its current cells (the
    migration forgets the stored field roles, so the roles sync at open rebuilds the table)."""
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        load(wh, export("2026_Q1", [W1, W2], 100), tmp_path / "1.json", "j1", None, 17)
        load(wh, export("2026_Q1", [W1, W2], 130), tmp_path / "2.json", "j2", None, 18)
        expected = rows(wh, "SELECT * FROM role_values")
        cur = wh.cursor()
        # Back to the schema of migration 002: the views compute the pivot on every read.
        cur.execute("DROP VIEW latest_week_values")
        cur.execute("DROP VIEW role_values")
        cur.execute("DROP TABLE current_role_values")
        cur.execute("ALTER VIEW live_role_values RENAME TO role_values")
        cur.execute("CREATE VIEW latest_week_values AS SELECT * FROM role_values "
                    "QUALIFY time_frame_id = max(time_frame_id) OVER (PARTITION BY forecast_id, time_period)")
        cur.execute("DELETE FROM schema_migrations WHERE version = 4")
    with Warehouse(path) as wh:
        assert value(wh, "SELECT count(*) FROM schema_migrations WHERE version = 4") == 1
        assert rows(wh, "SELECT * FROM role_values") == expected
        assert_matches_live(wh)
