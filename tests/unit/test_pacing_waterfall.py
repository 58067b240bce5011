"""The pacing and waterfall figures worked by hand, on frames built here (pure functions), and
the waterfall's start points and people on a small warehouse."""

from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest
from builders import Export, small_org

from clari_data.read import page_data
from clari_data.read.analytics import Export as Loaded
from clari_data.read.analytics import Selection
from clari_data.read.page_data import pacing_figures, waterfall_figures, waterfall_people, waterfall_start

# -- pacing ---------------------------------------------------------------------------------


def weeks(*rows):
    return pd.DataFrame(rows, columns=["week_number", "period", "label", "attainment_pct"])


def test_pacing_against_the_four_quarter_average():
    got = pacing_figures(weeks(
        (1, "2026_Q4", "Q4 2026", 5.0), (2, "2026_Q4", "Q4 2026", 20.0),
        (1, "2026_Q3", "Q3 2026", 4.0), (2, "2026_Q3", "Q3 2026", 10.0), (3, "2026_Q3", "Q3 2026", 30.0),
        (1, "2026_Q2", "Q2 2026", 6.0), (2, "2026_Q2", "Q2 2026", 14.0),
        (1, "2026_Q1", "Q1 2026", 2.0), (2, "2026_Q1", "Q1 2026", 12.0),
        (1, "2025_Q4", "Q4 2025", 8.0), (2, "2025_Q4", "Q4 2025", 16.0),
    ), "2026_Q4")
    # Week 2: (10 + 14 + 12 + 16) / 4 = 13; Q4 2026 stands at 20: 7 points ahead.
    assert got.average.set_index("week_number")["attainment_pct"].to_dict() == {1: 5.0, 2: 13.0, 3: 30.0}
    assert got.week_number == 2 and got.points_vs_average == pytest.approx(7.0)


def test_pacing_behind_and_with_fewer_quarters_loaded():
    got = pacing_figures(weeks((1, "2026_Q4", "Q4 2026", 3.0), (1, "2026_Q3", "Q3 2026", 9.0)), "2026_Q4")
    assert got.week_number == 1 and got.points_vs_average == pytest.approx(-6.0)


def test_pacing_without_earlier_quarters_or_without_the_chosen_one():
    alone = pacing_figures(weeks((1, "2026_Q4", "Q4 2026", 3.0)), "2026_Q4")
    assert alone.average.empty and alone.week_number == 1 and alone.points_vs_average is None
    missing = pacing_figures(weeks((1, "2026_Q3", "Q3 2026", 3.0)), "2026_Q4")
    assert missing.week_number is None and missing.points_vs_average is None


def test_pacing_with_no_quota_has_no_points():
    got = pacing_figures(weeks((1, "2026_Q4", "Q4 2026", None), (1, "2026_Q3", "Q3 2026", 9.0)), "2026_Q4")
    assert got.week_number == 1 and got.points_vs_average is None


# -- the waterfall's figures ---------------------------------------------------------------------

PEOPLE = pd.DataFrame({
    "user_id": ["cro", "m1", "m2", "r1", "r2", "r3"],
    "user_name": ["Cleo", "Mia", "Max", "Rex", "Ria", "Rob"],
    "is_manager": [True, True, True, False, False, False],
    "manager_user_id": [None, "cro", "cro", "m1", "m1", "m2"],
})
START, END = Loaded(1, datetime(2026, 11, 16)), Loaded(5, datetime(2026, 11, 20))


def test_start_plus_steps_plus_everyone_else_is_the_end():
    at_start = pd.Series({"cro": 1000.0, "m1": 600.0, "m2": 400.0})
    at_end = pd.Series({"cro": 1150.0, "m1": 700.0, "m2": 370.0})
    got = waterfall_figures(PEOPLE, {"cro"}, {"m1", "m2"}, at_start, at_end, START, END, n=8)
    assert (got.start_total, got.end_total) == (1000.0, 1150.0)
    # Mia +100 then Max -30 (by size); Cleo's own judgement is everyone else: 150 - 70 = 80.
    assert got.steps.to_dict("list") == {"user_id": ["m1", "m2"], "user_name": ["Mia", "Max"],
                                         "change_amount": [100.0, -30.0]}
    assert got.others_amount == pytest.approx(80.0)
    assert got.start_total + got.steps["change_amount"].sum() + got.others_amount == pytest.approx(got.end_total)
    assert got.moves[["start_amount", "end_amount"]].values.tolist() == [[600.0, 700.0], [400.0, 370.0]]


def test_only_the_n_biggest_moves_are_steps_and_the_rest_is_everyone_else():
    reps = {"r1", "r2", "r3"}
    at_start = pd.Series({"r1": 10.0, "r2": 20.0, "r3": 30.0})
    at_end = pd.Series({"r1": 15.0, "r2": 0.0, "r3": 31.0})  # +5, -20, +1
    got = waterfall_figures(PEOPLE, reps, reps, at_start, at_end, START, END, n=2)
    assert got.steps["user_id"].tolist() == ["r2", "r1"]
    assert got.others_amount == pytest.approx(1.0)  # Rob's +1
    assert (got.start_total, got.end_total) == (60.0, 46.0)
    assert len(got.moves) == 3


def test_someone_new_or_gone_counts_from_or_to_zero():
    at_start = pd.Series({"r1": 10.0})
    at_end = pd.Series({"r1": 10.0, "r2": 7.0})
    got = waterfall_figures(PEOPLE, {"r1", "r2"}, {"r1", "r2"}, at_start, at_end, START, END, n=8)
    assert got.steps.to_dict("list") == {"user_id": ["r2"], "user_name": ["Ria"], "change_amount": [7.0]}
    assert got.others_amount == 0.0 and got.end_total == 17.0


def test_without_a_start_there_are_no_steps():
    got = waterfall_figures(PEOPLE, {"cro"}, {"m1", "m2"}, None, pd.Series({"cro": 5.0}), None, END, n=8)
    assert got.start is None and got.start_total is None and got.end_total == 5.0
    assert got.steps.empty and got.moves.empty


def test_the_people_of_each_selection():
    assert waterfall_people(PEOPLE, Selection("f", "p")) == ({"cro"}, {"m1", "m2"})  # managers at the top
    assert waterfall_people(PEOPLE, Selection("f", "p", team="m1")) == ({"m1"}, {"r1", "r2"})
    assert waterfall_people(PEOPLE, Selection("f", "p", team="cro")) == ({"cro"}, {"r1", "r2", "r3"})
    assert waterfall_people(PEOPLE, Selection("f", "p", reps=("r1", "r3"))) == ({"r1", "r3"}, {"r1", "r3"})


# -- where it starts --------------------------------------------------------------------------------

EXPORTS = pd.DataFrame({  # newest first, as analytics.exports_of lists them
    "export_id": [6, 5, 4, 3, 2, 1],
    "exported_at": pd.to_datetime(["2026-11-18 20:00", "2026-11-17 20:00", "2026-11-16 20:00",
                                   "2026-11-13 20:00", "2026-11-12 20:00", "2026-10-01 20:00"]),
})


@pytest.mark.parametrize("start, expected", [
    ("previous", 5),
    ("week", 4),  # the first export since Monday 16 November 00:00 UTC
    ("quarter", 1),
    ("2026-11-13", 3),  # in force at the end of that day
    ("2026-11-13T12:00:00", 2),
    ("2026-11-14", 3),  # a day without an export: the one before it
    ("2026-09-01", None),  # before the first export
])
def test_start_points(start, expected):
    end = Loaded(6, datetime(2026, 11, 18, 20))
    got = waterfall_start(EXPORTS, end, start)
    assert (got.export_id if got else None) == expected


def test_on_the_week_s_first_export_the_week_starts_at_the_export_before():
    monday = Loaded(4, datetime(2026, 11, 16, 20))
    assert waterfall_start(EXPORTS, monday, "week").export_id == 3


def test_a_bad_start_or_field_names_the_parameter(wh):
    with pytest.raises(ValueError, match="from must be"):
        waterfall_start(EXPORTS, Loaded(6, datetime(2026, 11, 18, 20)), "yesterday")
    with pytest.raises(ValueError, match="field must be one of commit, best_case, pipeline, closed"):
        page_data.waterfall(wh, Selection("net_arr", "2026_Q4"), field="arr")
    assert page_data.WATERFALL_STARTS == ("previous", "week", "quarter")


# -- on a warehouse ---------------------------------------------------------------------------------


def day_export(commits: dict[str, float]) -> Export:
    e = Export(period="2026_Q4", start="2026-10-01", end="2026-12-31", users=small_org(), weeks=["2026-11-16"])
    for uid, commit in commits.items():
        e.row(uid, "2026-11-16", commit=commit, best_case=commit + 10, quota=1000, closed=commit / 2, pipeline=3000)
    return e


def test_the_waterfall_on_a_warehouse(wh, tmp_path):
    days = [  # (day of November, commits): Mia's reps Rex and Ria, Max's rep Rob, the managers' roll-ups
        (16, {"cro": 300, "m1": 200, "m2": 100, "r1": 120, "r2": 80, "r3": 100}),
        (17, {"cro": 330, "m1": 230, "m2": 100, "r1": 150, "r2": 80, "r3": 100}),
        (18, {"cro": 320, "m1": 230, "m2": 90, "r1": 150, "r2": 85, "r3": 90}),
    ]
    for day, commits in days:
        path = day_export(commits).write(tmp_path / f"d{day}.json")
        wh.load_export(path, forecast_id="net_arr", job_id=f"d{day}", requested_period="2026_Q4",
                       exported_at=datetime(2026, 11, day, 20))
    sel = Selection("net_arr", "2026_Q4")
    week = page_data.waterfall(wh, sel)  # from Monday's export (the 16th) to the latest (the 18th)
    assert (week.start.exported_at.day, week.end.exported_at.day) == (16, 18)
    assert (week.start_total, week.end_total) == (300.0, 320.0)
    assert dict(zip(week.steps["user_id"], week.steps["change_amount"])) == {"m1": 30.0, "m2": -10.0}
    assert week.others_amount == 0.0
    team = page_data.waterfall(wh, replace(sel, team="m1"), start="previous")  # the 17th to the 18th
    assert (team.start_total, team.end_total) == (230.0, 230.0)
    assert dict(zip(team.steps["user_id"], team.steps["change_amount"])) == {"r2": 5.0}
    assert team.others_amount == -5.0  # Mia kept her roll-up although Ria moved
    then = page_data.waterfall(wh, replace(sel, as_of=datetime(2026, 11, 17, 21)), start="previous",
                               field="best_case")
    assert (then.start_total, then.end_total) == (310.0, 340.0)
    assert then.moves.set_index("user_id").loc["m1", "change_amount"] == 30.0
