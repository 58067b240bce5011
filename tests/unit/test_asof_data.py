"""Every selection query as of a past export, against hand-worked numbers on the golden org of
test_views.py: two exports a day apart, the second moving calls and Rob's closed won. A move must
show on one side of `as_of` and not on the other."""

from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest
from builders import Export
from support import unchanged
from test_views import EXPORTED, W1, W2, golden_export, second_export

from clari_data.alerting import alerts
from clari_data.read import analytics, page_data
from clari_data.read.analytics import Selection
from clari_data.shared.config import AlertSettings, FieldRoles
from clari_data.storage.warehouse import Warehouse

SECOND = datetime(2026, 4, 11, 8, 0)
BETWEEN = datetime(2026, 4, 10, 20, 0)  # after the first export, before the second
SEL = Selection("net_arr", "2026_Q1")
THRESHOLDS = AlertSettings(change_pct=10, change_min_amount=5, coverage_min=0.1)


def load(wh, tmp_path, export: Export, job: str, at: datetime):
    return wh.load_export(export.write(tmp_path / f"{job}.json"), forecast_id="net_arr", job_id=job,
                          requested_period="2026_Q1", exported_at=at, thresholds=THRESHOLDS)


@pytest.fixture(scope="module")
def two(module_place, tmp_path_factory):
    """The warehouse after both exports, and what the pages read right after the first one (the
    module's tests only read it)."""
    folder = tmp_path_factory.mktemp("exports")
    with Warehouse(module_place) as wh:
        load(wh, folder, golden_export(), "a", EXPORTED)
        after_first = {name: fn(wh, SEL) for name, fn in QUERIES.items()}
        load(wh, folder, second_export(), "b", SECOND)
        with unchanged(wh):
            yield wh, after_first


QUERIES = {
    "weekly_totals": analytics.weekly_totals,
    "coverage_members": analytics.coverage_members,
    "performance_members": analytics.performance_members,
    "accuracy_members": analytics.accuracy_members,
}


@pytest.mark.parametrize("name", QUERIES)
def test_as_of_the_first_export_reads_what_the_first_export_showed(two, name):
    wh, after_first = two
    # Rebuilt from the cell history, the first export's numbers are what the current tables held then.
    pd.testing.assert_frame_equal(QUERIES[name](wh, replace(SEL, as_of=BETWEEN)), after_first[name])


def test_weekly_totals_either_side_of_the_move(two):
    wh, _ = two
    # The headline is Cleo's roll-up: her W2 commit went 340 -> 360 in the second export.
    before = analytics.weekly_totals(wh, replace(SEL, as_of=BETWEEN))
    now = analytics.weekly_totals(wh, SEL)
    assert before["commit_amount"].tolist() == [240, 340] and now["commit_amount"].tolist() == [240, 360]
    assert [pd.Timestamp(d).date().isoformat() for d in now["start_date"]] == [W1, W2]  # weeks carry their first day
    # An as_of at or after the latest export is the latest data.
    assert analytics.weekly_totals(wh, replace(SEL, as_of=datetime(2030, 1, 1))).equals(now)
    # Before the first export there is nothing to show.
    assert analytics.weekly_totals(wh, replace(SEL, as_of=datetime(2026, 4, 1))).empty


def test_coverage_performance_and_accuracy_either_side_of_the_move(two):
    wh, _ = two
    then, now = replace(SEL, as_of=BETWEEN), SEL
    rob = lambda frame: frame.set_index("user_id").loc["r3"]  # noqa: E731
    # Rob's closed won 0 -> 8: open pipeline 50 -> 42, remaining quota 100 -> 92.
    assert rob(analytics.coverage_members(wh, then))["coverage_ratio"] == pytest.approx(0.5)
    assert rob(analytics.coverage_members(wh, now))["coverage_ratio"] == pytest.approx(42 / 92)
    # Rex's commit 90 -> 100 against a quota of 100.
    rex = lambda frame: frame.set_index("user_id").loc["r1"]  # noqa: E731
    assert rex(analytics.performance_members(wh, then))["forecast_to_quota_pct"] == pytest.approx(90.0)
    assert rex(analytics.performance_members(wh, now))["forecast_to_quota_pct"] == pytest.approx(100.0)
    # Rob's actual 0 -> 8: no accuracy before, 1 - |100 - 8| / 8 after (his W1 call was 100).
    acc_then = analytics.accuracy_members(wh, then).set_index(["user_id", "week_number"])
    acc_now = analytics.accuracy_members(wh, now).set_index(["user_id", "week_number"])
    assert pd.isna(acc_then.loc[("r3", 1), "accuracy_pct"])
    assert acc_now.loc[("r3", 1), "accuracy_pct"] == pytest.approx(100 * (1 - 92 / 8))
    assert pd.Timestamp(acc_now.loc[("r3", 1), "start_date"]).date().isoformat() == W1


def test_moves_and_the_change_alert_either_side_of_the_move(two):
    wh, _ = two
    then = replace(SEL, as_of=BETWEEN)
    assert analytics.export_pair(wh, then).previous is None
    assert page_data.changes(wh, then, 10, 5).since_previous is None
    moved = page_data.changes(wh, SEL, 10, 5).since_previous.moves
    assert set(zip(moved["user_id"], moved["field_id"])) == {("r1", "fc_commit"), ("r3", "crm_closed_won")}

    def rules(sel):
        return {a.rule: a for a in alerts.data_alerts(wh, THRESHOLDS, FieldRoles(), sel)}

    assert "change" not in rules(then)
    assert [i.subject_id for i in rules(SEL)["change"].items] == ["r1/fc_commit"]


def test_the_overview_compares_with_the_export_before(two):
    wh, _ = two
    shown = page_data.overview(wh, SEL)
    assert (shown.headline.commit, shown.previous.commit) == (360, 340)
    assert shown.export.exported_at == SECOND and shown.previous_export.exported_at == EXPORTED
    assert shown.week_ago is None and shown.week_ago_export is None  # no export a week older
    then = page_data.overview(wh, replace(SEL, as_of=BETWEEN))
    assert then.headline.commit == 340 and then.previous is None and then.export.exported_at == EXPORTED


def test_exports_their_times_and_the_period_labels(two):
    wh, _ = two
    listed = analytics.exports_of(wh, "net_arr", "2026_Q1")
    assert listed["exported_at"].tolist() == [pd.Timestamp(SECOND), pd.Timestamp(EXPORTED)]
    assert analytics.first_export_at(wh) == EXPORTED and analytics.latest_export_at(wh) == SECOND
    assert analytics.export_at(wh, "net_arr", "2026_Q1", BETWEEN) == analytics.Export(1, EXPORTED)
    assert analytics.export_at(wh, "net_arr", "2026_Q1", None).exported_at == SECOND
    assert analytics.export_at(wh, "net_arr", "2026_Q1", datetime(2026, 4, 1)) is None
    assert analytics.period_labels(wh) == {"2026_Q1": "Q1 2026"}


def test_nothing_loaded_yet(wh):
    assert analytics.first_export_at(wh) is None and analytics.latest_export_at(wh) is None
    assert analytics.exports_of(wh, "net_arr", "2026_Q1").empty
    assert analytics.period_labels(wh) == {}


@pytest.mark.parametrize("period, label, year, expected", [
    ("2026_Q4", "Q4", "2026", "Q4 2026"),
    ("2026_Q4", "Q4", 2026, "Q4 2026"),
    ("2027_Q1", "FY2027 Q1", "2027", "FY2027 Q1"),  # a label that already names its year
    ("2026_Q4", None, None, "Q4 2026"),  # no label: from the id
    ("custom", None, None, "custom"),
])
def test_period_label(period, label, year, expected):
    assert analytics.period_label(period, label, year) == expected


def test_export_points_of_a_period_s_exports():
    exports = pd.DataFrame({"export_id": [9, 7, 4, 2],
                            "exported_at": pd.to_datetime(["2026-11-18 20:00", "2026-11-17 20:00",
                                                           "2026-11-10 20:00", "2026-11-02 20:00"])})
    now = analytics.export_points_of(exports, None)
    assert [p.export_id for p in (now.shown, now.previous, now.week_ago, now.first)] == [9, 7, 4, 2]
    then = analytics.export_points_of(exports, datetime(2026, 11, 17, 21))
    assert [p.export_id for p in (then.shown, then.previous, then.week_ago, then.first)] == [7, 4, 4, 2]
    assert then.shown.exported_at == datetime(2026, 11, 17, 20)
    early = analytics.export_points_of(exports, datetime(2026, 11, 3))
    assert (early.shown.export_id, early.previous, early.week_ago) == (2, None, None)
    assert analytics.export_points_of(exports, datetime(2026, 11, 1)) == analytics.ExportPoints(None, None, None, None)
