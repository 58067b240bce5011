"""Golden tests of the analytics views: a small org whose every number is worked out by hand here.

Org: Cleo (CRO) > Mia (manager of Rex and Ria), Max (manager of Rob). Period 2026_Q1, two weeks
(W1 = TF:2026-03-16, W2 = TF:2026-03-23, the last), exported on 2026-04-10, after the period ended.
"""

from datetime import datetime

import pytest
from builders import Export, small_org

from clari_data.shared.config import AlertSettings

W1, W2 = "2026-03-16", "2026-03-23"
EXPORTED = datetime(2026, 4, 10, 8, 0)


def golden_export() -> Export:
    e = Export(users=small_org(), weeks=[W2, W1])  # Clari sends weeks unordered
    #      user   week commit best   quota closed pipeline
    e.row("r1", W1, commit=80, best_case=120, quota=100, closed=40, pipeline=160, isUpdated=True)
    e.row("r2", W1, commit=50, best_case=90, quota=200, closed=100, pipeline=250, adjustmentValue=60)
    e.row("r3", W1, commit=100, best_case=110, quota=100, closed=90, pipeline=130)
    e.row("m1", W1, commit=140, best_case=210, quota=300, closed=140, pipeline=410)
    e.row("m2", W1, commit=100, best_case=110, quota=100, closed=90, pipeline=130)
    e.row("cro", W1, commit=240, best_case=320, quota=400, closed=230, pipeline=540)
    e.row("r1", W2, commit=90, best_case=110, quota=100, closed=100, pipeline=130, isUpdated=True)
    e.row("r2", W2, commit=150, best_case=170, quota=200, closed=120, pipeline=200, adjustmentValue=130,
          isUpdated=False)
    e.row("r3", W2, commit=100, best_case=100, quota=100, closed=0, pipeline=50)
    e.row("m1", W2, commit=240, best_case=280, quota=300, closed=220, pipeline=320)
    e.row("m2", W2, commit=100, best_case=100, quota=100, closed=0, pipeline=50)
    e.row("cro", W2, commit=340, best_case=380, quota=400, closed=220, pipeline=370)
    return e


@pytest.fixture
def loaded(wh, tmp_path):
    path = golden_export().write(tmp_path / "golden.json")
    wh.load_export(path, forecast_id="net_arr", job_id="job-1", requested_period="2026_Q1", exported_at=EXPORTED)
    return wh


def rows(wh, view, order="user_id, time_frame_id"):
    cur = wh.cursor()
    result = cur.execute(f"SELECT * FROM {view} ORDER BY {order}")
    names = [d[0] for d in result.description]
    return [dict(zip(names, r)) for r in result.fetchall()]


def by_user(wh, view):
    return {r["user_id"]: r for r in rows(wh, view)}


def test_forecast_accuracy(loaded):
    got = {(r["user_id"], r["week_number"]): r for r in rows(loaded, "forecast_accuracy")}
    # Weeks are numbered in timeFrameId order although the export listed W2 first.
    assert got[("r1", 1)]["time_frame_id"] == f"TF:{W1}"
    # Rex: actual = closed in the last week = 100. W1 call 80 -> 1 - 20/100 = 80%, bias -20%.
    assert got[("r1", 1)]["forecast_amount"] == 80 and got[("r1", 1)]["actual_amount"] == 100
    assert got[("r1", 1)]["accuracy_pct"] == pytest.approx(80.0)
    assert got[("r1", 1)]["bias_pct"] == pytest.approx(-20.0)
    assert got[("r1", 2)]["accuracy_pct"] == pytest.approx(90.0)
    # Ria: the manager's adjustment wins. W1 60 vs 120 -> 50%, -50%; W2 130 vs 120 -> 91.67%, +8.33%.
    assert got[("r2", 1)]["forecast_amount"] == 60
    assert got[("r2", 1)]["accuracy_pct"] == pytest.approx(50.0)
    assert got[("r2", 1)]["bias_pct"] == pytest.approx(-50.0)
    assert got[("r2", 2)]["accuracy_pct"] == pytest.approx(100 * (1 - 10 / 120))
    assert got[("r2", 2)]["bias_pct"] == pytest.approx(100 * 10 / 120)
    # Rob closed nothing: no accuracy or bias can be computed.
    assert got[("r3", 1)]["actual_amount"] == 0
    assert got[("r3", 1)]["accuracy_pct"] is None and got[("r3", 1)]["bias_pct"] is None
    # Mia's own roll-up call: 140 vs 220 -> 1 - 80/220.
    assert got[("m1", 1)]["accuracy_pct"] == pytest.approx(100 * (1 - 80 / 220))
    assert got[("m1", 1)]["is_manager"] is True and got[("r1", 1)]["is_manager"] is False
    assert got[("r1", 1)]["manager_user_id"] == "m1"
    assert len(got) == 12


def test_accuracy_only_for_ended_periods(wh, tmp_path):
    path = golden_export().write(tmp_path / "running.json")
    wh.load_export(path, forecast_id="net_arr", job_id="job-1", requested_period="2026_Q1",
                   exported_at=datetime(2026, 3, 25))  # before 2026-03-31: still running
    assert rows(wh, "forecast_accuracy") == []


def test_pipeline_coverage(loaded):
    got = by_user(loaded, "pipeline_coverage")
    assert {r["time_frame_id"] for r in got.values()} == {f"TF:{W2}"}  # the latest week only
    # Rex met quota (remaining 0): coverage undefined.
    assert got["r1"]["open_pipeline_amount"] == 30 and got["r1"]["remaining_quota_amount"] == 0
    assert got["r1"]["coverage_ratio"] is None
    # Ria: open 200-120 = 80, remaining 200-120 = 80 -> 1.0x.
    assert got["r2"]["coverage_ratio"] == pytest.approx(1.0)
    # Rob: open 50, remaining 100 -> 0.5x.
    assert got["r3"]["coverage_ratio"] == pytest.approx(0.5)
    # Mia: open 100, remaining 80 -> 1.25x; Cleo: open 150, remaining 180.
    assert got["m1"]["coverage_ratio"] == pytest.approx(1.25)
    assert got["cro"]["coverage_ratio"] == pytest.approx(150 / 180)
    assert got["r2"]["manager"] == "MGR-1" and got["cro"]["manager"] is None


def test_rep_performance(loaded):
    got = by_user(loaded, "rep_performance")
    assert got["r1"]["attainment_pct"] == pytest.approx(100.0)
    assert got["r1"]["forecast_to_quota_pct"] == pytest.approx(90.0)
    assert got["r1"]["status"] == "on_track"  # 90% is on track
    assert got["r1"]["is_updated"] is True and got["r1"]["adjustment_delta"] is None
    # Ria's call 150 was overridden to 130: forecast 130 -> 65% of quota -> at risk; delta -20.
    assert got["r2"]["forecast_amount"] == 130
    assert got["r2"]["forecast_to_quota_pct"] == pytest.approx(65.0)
    assert got["r2"]["status"] == "at_risk"
    assert got["r2"]["adjustment_delta"] == -20
    assert got["r2"]["is_updated"] is False
    assert got["r2"]["attainment_pct"] == pytest.approx(60.0)
    assert got["m1"]["forecast_to_quota_pct"] == pytest.approx(80.0)
    assert got["m1"]["status"] == "watch"


def second_export() -> Export:
    e = golden_export()
    for entry in e.entries:
        if entry["timeFrameId"] == f"TF:{W2}" and entry["fieldId"] == "fc_commit":
            new_calls = {"r1": 100, "r2": 155, "r3": 100, "m1": 260, "m2": 100, "cro": 360}
            entry["forecastValue"] = new_calls[entry["userId"]]
        if entry["timeFrameId"] == f"TF:{W2}" and entry["userId"] == "r3" and entry["fieldId"] == "crm_closed_won":
            entry["aggregationTotal"] = 8
    return e


def test_forecast_changes(wh, tmp_path):
    thresholds = AlertSettings(change_pct=10, change_min_amount=5)
    wh.load_export(golden_export().write(tmp_path / "a.json"), forecast_id="net_arr", job_id="a",
                   requested_period="2026_Q1", exported_at=EXPORTED, thresholds=thresholds)
    assert rows(wh, "forecast_moves", "user_id") == []  # the first export records no changes
    wh.load_export(second_export().write(tmp_path / "b.json"), forecast_id="net_arr", job_id="b",
                   requested_period="2026_Q1", exported_at=datetime(2026, 4, 11), thresholds=thresholds)
    moves = {(r["user_id"], r["field_id"]): r for r in rows(wh, "forecast_moves", "user_id, field_id")}
    # Rex 90 -> 100: +10, +11.1%: counts. Ria 150 -> 155: +3.3%: moves but does not count.
    assert moves[("r1", "fc_commit")]["change_amount"] == 10
    assert moves[("r1", "fc_commit")]["change_pct"] == pytest.approx(100 * 10 / 90)
    assert moves[("r1", "fc_commit")]["is_significant"] is True
    assert moves[("r2", "fc_commit")]["is_significant"] is False
    # Rob's closed won 0 -> 8: from zero there is no %, and 8 >= 5 counts by amount.
    assert moves[("r3", "crm_closed_won")]["change_pct"] is None
    assert moves[("r3", "crm_closed_won")]["is_significant"] is True
    # Mia 240 -> 260 (+8.3%) moves without counting; Cleo 340 -> 360 (+5.9%) likewise.
    assert moves[("m1", "fc_commit")]["is_significant"] is False
    assert len(moves) == 5
    changes = {(r["user_id"], r["field_id"]) for r in rows(wh, "forecast_changes", "user_id")}
    assert changes == {("r1", "fc_commit"), ("r3", "crm_closed_won")}
    change = rows(wh, "forecast_changes", "user_id")[0]
    assert change["user_name"] == "Rex Rep" and change["field_name"] == "Commit"
    assert change["previous_export_at"] == EXPORTED and change["detected_at"] == datetime(2026, 4, 11)


def test_change_thresholds_are_both_required(wh, tmp_path):
    thresholds = AlertSettings(change_pct=10, change_min_amount=50)  # +10 on 90 is 11% but under $50
    wh.load_export(golden_export().write(tmp_path / "a.json"), forecast_id="net_arr", job_id="a",
                   requested_period="2026_Q1", exported_at=EXPORTED, thresholds=thresholds)
    wh.load_export(second_export().write(tmp_path / "b.json"), forecast_id="net_arr", job_id="b",
                   requested_period="2026_Q1", exported_at=EXPORTED, thresholds=thresholds)
    assert rows(wh, "forecast_changes", "user_id") == []


# -- the thresholds, each applied in one SQL macro ----------------------------------------------


def sql_rows(wh, sql, params=None):
    return wh.cursor().execute(sql, params or []).fetchall()


@pytest.mark.parametrize("previous, change, counts", [
    (50_000.0, 5_000.0, True),  # exactly both thresholds
    (50_000.0, 4_999.99, False),  # amount just short
    (40_000.0, 5_000.0, True),
    (60_000.0, 5_000.0, False),  # percentage short
    (0.0, 5_000.0, True),  # from zero: amount alone
    (None, -6_000.0, True),  # from nothing: amount alone, downwards
    (0.0, 4_000.0, False),  # from zero but too small
    (100_000.0, -10_000.0, True),  # downwards at the boundary
    (-50_000.0, -5_000.0, True),
    (1_000_000.0, 60_000.0, False),  # big amount, small percentage
])
def test_change_rule_needs_both_thresholds(wh, previous, change, counts):
    got = sql_rows(wh, "SELECT is_significant_change(?, ?, 10, 5000)", [previous, change])
    assert got == [(counts,)]


def test_change_rule_with_zero_thresholds_counts_every_move(wh):
    assert sql_rows(wh, "SELECT is_significant_change(100, 1, 0, 0), is_significant_change(0, -1, 0, 0)") \
        == [(True, True)]


@pytest.mark.parametrize("open_pipeline, remaining, expected", [
    (600.0, 300.0, 2.0),
    (0.0, 100.0, 0.0),
    (-50.0, 100.0, -0.5),
    (100.0, 0.0, None),  # quota met exactly
    (100.0, -5.0, None),  # quota exceeded
    (None, 100.0, None),
    (100.0, None, None),
])
def test_coverage_ratio(wh, open_pipeline, remaining, expected):
    assert sql_rows(wh, "SELECT coverage_ratio(?, ?)", [open_pipeline, remaining]) == [(expected,)]


def test_weekly_totals_carry_coverage_from_sql(loaded):
    from clari_data.read import analytics

    weekly = analytics.weekly_totals(loaded, analytics.Selection("net_arr", "2026_Q1"))
    # The headline sums Cleo's roll-up: W2 pipeline 370, closed 220, quota 400 -> 150 / 180.
    last = weekly.iloc[-1]
    assert last["open_pipeline_amount"] == 150 and last["remaining_quota_amount"] == 180
    assert last["coverage_ratio"] == pytest.approx(150 / 180)
    head = analytics.headline_of(weekly)
    assert head.coverage == pytest.approx(150 / 180) and head.open_pipeline == 150 and head.remaining_quota == 180


def test_moves_between_marks_the_moves_that_count(wh, tmp_path):
    from clari_data.read import analytics

    first = wh.load_export(golden_export().write(tmp_path / "a.json"), forecast_id="net_arr", job_id="a",
                           requested_period="2026_Q1", exported_at=EXPORTED)
    second = wh.load_export(second_export().write(tmp_path / "b.json"), forecast_id="net_arr", job_id="b",
                            requested_period="2026_Q1", exported_at=datetime(2026, 4, 11))
    moves = analytics.moves_between(wh, analytics.Selection("net_arr", "2026_Q1"), first.export_id,
                                    second.export_id, change_pct=10, change_min_amount=5)
    marked = {(r.user_id, r.field_id): r.is_significant for r in moves.itertuples()}
    # The same moves and the same verdicts as the load recorded with these thresholds (test_forecast_changes).
    assert marked == {("r1", "fc_commit"): True, ("r2", "fc_commit"): False, ("r3", "crm_closed_won"): True,
                      ("m1", "fc_commit"): False, ("cro", "fc_commit"): False}
    counted = analytics.significant_moves(moves)
    assert set(zip(counted["user_id"], counted["field_id"])) == {("r1", "fc_commit"), ("r3", "crm_closed_won")}


def test_rep_status_cut_offs_come_from_the_settings(place, tmp_path):
    from clari_data.storage.warehouse import Warehouse

    path = place()
    with Warehouse(path, alerts=AlertSettings(at_risk_below_pct=60, on_track_from_pct=95)) as wh:
        wh.load_export(golden_export().write(tmp_path / "golden.json"), forecast_id="net_arr", job_id="job-1",
                       requested_period="2026_Q1", exported_at=EXPORTED)
        got = by_user(wh, "rep_performance")
        # Rex 90% is now short of on track; Ria 65% is above the lower at-risk line.
        assert (got["r1"]["status"], got["r2"]["status"], got["m1"]["status"]) == ("watch", "watch", "watch")
    with Warehouse(path) as wh:  # reopened with today's defaults: 70 / 90
        got = by_user(wh, "rep_performance")
        assert (got["r1"]["status"], got["r2"]["status"], got["m1"]["status"]) == ("on_track", "at_risk", "watch")


def test_rep_status_cut_offs_are_read_and_checked_from_clari_toml(tmp_path):
    from clari_data.shared.config import ConfigError, load_settings

    config = tmp_path / "clari.toml"
    config.write_text("[alerts]\nat_risk_below_pct = 60\non_track_from_pct = 95.5\n")
    alerts = load_settings(config, env={}, secrets_path=tmp_path / "none.toml").alerts
    assert (alerts.at_risk_below_pct, alerts.on_track_from_pct) == (60, 95.5)
    assert AlertSettings().at_risk_below_pct == 70.0 and AlertSettings().on_track_from_pct == 90.0
    config.write_text("[alerts]\nat_risk_below_pct = 95\non_track_from_pct = 90\n")
    with pytest.raises(ConfigError, match="at_risk_below_pct"):
        load_settings(config, env={}, secrets_path=tmp_path / "none.toml")
