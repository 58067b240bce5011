"""The pure arithmetic of clari_data/read/analytics.py, on frames built by hand: ratios, the headline,
WAPE accuracy by week, per-person summaries, the significant-move filter and the team hierarchy.
(The thresholds themselves are SQL macros, tested on DuckDB in test_views.py.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clari_data.read.analytics import (
    Headline,
    accuracy_by_week,
    accuracy_summary,
    biggest_movers,
    headline_of,
    pct,
    significant_moves,
    team_members,
)

# -- pct ------------------------------------------------------------------------------------


@pytest.mark.parametrize("part, whole, expected", [
    (25.0, 100.0, 25.0),
    (0.0, 100.0, 0.0),
    (150.0, 120.0, 125.0),
    (50.0, -200.0, -25.0),
    (5.0, 0.0, None),
    (5.0, None, None),
    (None, 5.0, None),
])
def test_pct(part, whole, expected):
    assert pct(part, whole) == expected


# -- Headline --------------------------------------------------------------------------------


WEEKLY_COLUMNS = ["week_number", "time_frame_id", "users", "quota_amount", "closed_amount", "commit_amount",
                  "best_case_amount", "pipeline_amount", "open_pipeline_amount", "remaining_quota_amount",
                  "coverage_ratio"]


def test_headline_is_the_last_week_of_the_weekly_totals():
    weekly = pd.DataFrame([(1, "TF:a", 3, 400.0, 50.0, 250.0, 300.0, 600.0, 550.0, 350.0, 550 / 350),
                           (2, "TF:b", 3, 400.0, 100.0, 300.0, 350.0, 700.0, 600.0, 300.0, 2.0)],
                          columns=WEEKLY_COLUMNS)
    h = headline_of(weekly)
    assert h == Headline(users=3, quota=400.0, closed=100.0, commit=300.0, best_case=350.0, pipeline=700.0,
                         week="TF:b", open_pipeline=600.0, remaining_quota=300.0, coverage=2.0)
    assert h.attainment_pct == 25.0


def test_headline_missing_numbers_are_none():
    weekly = pd.DataFrame([(1, "TF:a", 1, 0.0, 0.0, 10.0, np.nan, 50.0, 50.0, 0.0, np.nan)], columns=WEEKLY_COLUMNS)
    h = headline_of(weekly)
    assert h.best_case is None and h.coverage is None and h.remaining_quota == 0.0
    assert h.attainment_pct is None  # zero quota


def test_headline_of_no_weeks():
    assert headline_of(pd.DataFrame(columns=WEEKLY_COLUMNS)) == Headline(0, None, None, None, None, None, None)


# -- accuracy_by_week ------------------------------------------------------------------------

ACCURACY_COLUMNS = ["user_id", "week_number", "time_frame_id", "forecast_amount", "actual_amount", "in_headline"]


def accuracy_rows(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=ACCURACY_COLUMNS)


def test_accuracy_by_week_is_wape_over_the_headline_rows():
    rows = accuracy_rows(
        # Week 2 first: the result is ordered by week whatever the input order.
        ("a", 2, "TF:W2", 120.0, 100.0, True),
        ("b", 2, "TF:W2", 240.0, 300.0, True),
        ("a", 1, "TF:W1", 50.0, 100.0, True),
        ("b", 1, "TF:W1", 300.0, 300.0, True),
        # The manager of a and b: not in the headline, else everything would count twice.
        ("m", 1, "TF:W1", 0.0, 1000.0, False),
        ("m", 2, "TF:W2", 0.0, 1000.0, False),
    )
    got = accuracy_by_week(rows)
    assert list(got.columns) == ["week_number", "time_frame_id", "forecast_amount", "actual_amount",
                                 "accuracy_pct", "bias_pct"]
    assert got["week_number"].tolist() == [1, 2]
    assert got["time_frame_id"].tolist() == ["TF:W1", "TF:W2"]
    assert got["forecast_amount"].tolist() == [350.0, 360.0]
    assert got["actual_amount"].tolist() == [400.0, 400.0]
    # W1: |50-100| + |300-300| = 50 over 400 -> 87.5 % (not the 75 % mean of 50 % and 100 %);
    #     bias (350 - 400) / 400 = -12.5 %.
    # W2: |120-100| + |240-300| = 80 over 400 -> 80 %; bias (360 - 400) / 400 = -10 %.
    assert got["accuracy_pct"].tolist() == pytest.approx([87.5, 80.0])
    assert got["bias_pct"].tolist() == pytest.approx([-12.5, -10.0])


def test_accuracy_by_week_uses_absolute_actuals():
    rows = accuracy_rows(("a", 1, "TF:W1", -80.0, -100.0, True), ("b", 1, "TF:W1", 30.0, 100.0, True))
    got = accuracy_by_week(rows)
    # errors 20 + 70 = 90 over |−100| + |100| = 200 -> 55 %; bias (−50 − 0) / 200 = −25 %.
    assert got["accuracy_pct"].tolist() == pytest.approx([55.0])
    assert got["bias_pct"].tolist() == pytest.approx([-25.0])


def test_accuracy_by_week_over_a_zero_actual_is_undefined():
    rows = accuracy_rows(("a", 1, "TF:W1", 10.0, 0.0, True), ("b", 1, "TF:W1", 0.0, 0.0, True),
                         ("a", 2, "TF:W2", 10.0, 20.0, True))
    got = accuracy_by_week(rows)
    assert math.isnan(got.loc[0, "accuracy_pct"]) and math.isnan(got.loc[0, "bias_pct"])
    assert got.loc[1, "accuracy_pct"] == pytest.approx(50.0) and got.loc[1, "bias_pct"] == pytest.approx(-50.0)


def test_accuracy_by_week_accuracy_can_go_negative():
    got = accuracy_by_week(accuracy_rows(("a", 1, "TF:W1", 300.0, 100.0, True)))
    assert got["accuracy_pct"].tolist() == pytest.approx([-100.0])
    assert got["bias_pct"].tolist() == pytest.approx([200.0])


def test_accuracy_by_week_without_headline_rows():
    got = accuracy_by_week(accuracy_rows(("m", 1, "TF:W1", 10.0, 10.0, False)))
    assert got.empty
    assert list(got.columns) == ["week_number", "time_frame_id", "forecast_amount", "actual_amount",
                                 "accuracy_pct", "bias_pct"]


def test_accuracy_by_week_does_not_change_its_input():
    rows = accuracy_rows(("a", 1, "TF:W1", 50.0, 100.0, True))
    accuracy_by_week(rows)
    assert list(rows.columns) == ACCURACY_COLUMNS


# -- accuracy_summary ------------------------------------------------------------------------

SUMMARY_COLUMNS = ["user_id", "user_name", "is_manager", "manager", "week_number", "actual_amount",
                   "accuracy_pct", "bias_pct"]


def test_accuracy_summary_one_row_per_person_managers_first_least_accurate_first():
    rows = pd.DataFrame([
        ("m1", "Mia", True, "CRO", 1, 220.0, 90.0, 10.0),
        ("m1", "Mia", True, "CRO", 2, 220.0, 70.0, -30.0),
        ("r1", "Rex", False, "MGR-1", 1, 100.0, 80.0, -20.0),
        ("r1", "Rex", False, "MGR-1", 2, 100.0, 100.0, 0.0),
        ("r2", "Ria", False, "MGR-1", 1, 120.0, 50.0, -50.0),
        ("r2", "Ria", False, "MGR-1", 2, 120.0, np.nan, np.nan),
        ("cro", "Cleo", True, None, 1, 400.0, 95.0, 5.0),
        ("cro", "Cleo", True, None, 2, 400.0, 97.0, -1.0),
    ], columns=SUMMARY_COLUMNS)
    got = accuracy_summary(rows)
    assert list(got.columns) == ["user_id", "user_name", "is_manager", "manager", "actual_amount",
                                 "mean_accuracy_pct", "mean_bias_pct", "weeks"]
    assert got["user_id"].tolist() == ["m1", "cro", "r2", "r1"]
    assert got["mean_accuracy_pct"].tolist() == [80.0, 96.0, 50.0, 90.0]
    assert got["mean_bias_pct"].tolist() == [-10.0, 2.0, -50.0, -10.0]
    assert got["actual_amount"].tolist() == [220.0, 400.0, 120.0, 100.0]
    assert got["weeks"].tolist() == [2, 2, 2, 2]
    # The CRO has no manager and is kept, not dropped by the group-by.
    assert pd.isna(got.loc[1, "manager"])
    assert got["is_manager"].tolist() == [True, True, False, False]


def test_accuracy_summary_empty():
    got = accuracy_summary(pd.DataFrame(columns=SUMMARY_COLUMNS))
    assert got.empty
    assert list(got.columns) == ["user_id", "user_name", "is_manager", "manager", "actual_amount",
                                 "mean_accuracy_pct", "mean_bias_pct", "weeks"]


# -- significant_moves -----------------------------------------------------------------------

MOVE_COLUMNS = ["user_id", "previous_amount", "change_amount", "change_pct"]


def move_rows(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=MOVE_COLUMNS)


def test_significant_moves_keeps_the_rows_sql_marked():
    moves = pd.DataFrame([("a", 10.0, True), ("b", 1.0, False), ("c", -20.0, True)],
                         columns=["user_id", "change_amount", "is_significant"])
    got = significant_moves(moves)
    assert got["user_id"].tolist() == ["a", "c"] and got.index.tolist() == [0, 1]


def test_significant_moves_empty():
    empty = pd.DataFrame(columns=["user_id", "change_amount", "is_significant"])
    assert significant_moves(empty).empty


# -- biggest_movers --------------------------------------------------------------------------


def test_biggest_movers_top_n_each_way():
    moves = move_rows(("a", 1.0, 500.0, 1.0), ("b", 1.0, -300.0, 1.0), ("c", 1.0, 900.0, 1.0),
                      ("d", 1.0, 0.0, 0.0), ("e", 1.0, -800.0, 1.0), ("f", 1.0, 100.0, 1.0),
                      ("g", 1.0, -50.0, 1.0))
    up, down = biggest_movers(moves, n=2)
    assert up["user_id"].tolist() == ["c", "a"] and up["change_amount"].tolist() == [900.0, 500.0]
    assert down["user_id"].tolist() == ["e", "b"] and down["change_amount"].tolist() == [-800.0, -300.0]
    assert up.index.tolist() == [0, 1] and down.index.tolist() == [0, 1]


def test_biggest_movers_default_is_ten_and_zero_is_neither():
    moves = move_rows(*[(f"u{i}", 1.0, float(i), 1.0) for i in range(1, 13)], ("z", 1.0, 0.0, 0.0))
    up, down = biggest_movers(moves)
    assert up["user_id"].tolist() == [f"u{i}" for i in range(12, 2, -1)]
    assert down.empty


# -- team_members ----------------------------------------------------------------------------


def hierarchy(*pairs) -> pd.DataFrame:
    return pd.DataFrame(list(pairs), columns=["user_id", "manager_user_id"])


ORG = hierarchy(("cro", None), ("m1", "cro"), ("m2", "cro"), ("r1", "m1"), ("r2", "m1"), ("r3", "m2"),
                ("t1", "r1"), ("t2", "t1"))


@pytest.mark.parametrize("manager, members", [
    ("cro", {"m1", "m2", "r1", "r2", "r3", "t1", "t2"}),
    ("m1", {"r1", "r2", "t1", "t2"}),
    ("m2", {"r3"}),
    ("t1", {"t2"}),
    ("t2", set()),
    ("nobody", set()),
])
def test_team_members_reaches_every_level(manager, members):
    assert team_members(ORG, manager) == members


def test_team_members_ignores_missing_managers():
    people = hierarchy(("cro", np.nan), ("m1", "cro"), ("x", None))
    assert team_members(people, "cro") == {"m1"}


@pytest.mark.timeout(10)
def test_team_members_cycle_below_the_manager_terminates():
    people = hierarchy(("m", None), ("x", "m"), ("y", "x"), ("x", "y"))  # x and y report to each other
    assert team_members(people, "m") == {"x", "y"}


@pytest.mark.timeout(10)
def test_team_members_cycle_through_the_manager_terminates():
    people = hierarchy(("a", "c"), ("b", "a"), ("c", "b"))
    assert team_members(people, "a") - {"a"} == {"b", "c"}
    assert team_members(hierarchy(("s", "s")), "s") - {"s"} == set()
