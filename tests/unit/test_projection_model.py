"""The projection on a tenant built in code: ratios and quantiles worked by hand, P50 never below
what is closed, no leakage from later quarters, the public views' columns, and the Python
estimator agreeing with the SQL views it documents."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from builders import Export, small_org
from support import unchanged

from bench import projection as research
from clari_data.read import page_data, projection
from clari_data.read.analytics import Selection
from clari_data.read.projection import POOLING as K
from clari_data.read.projection import Z90
from clari_data.storage.warehouse import Warehouse

# Each ended quarter: Rex (r1) always calls 25% over what he closes, Ria (r2) calls it exactly,
# Rob (r3) wobbles; the managers' calls are their teams' sums.
ACTUAL = {"r1": 100_000, "r2": 200_000, "r3": 100_000}
ROB_RATIOS = (1.0, 1.1, 0.9, 1.0)  # Rob's actual / call in the four ended quarters
ENDED = (("2025_Q1", date(2025, 1, 1)), ("2025_Q2", date(2025, 4, 1)), ("2025_Q3", date(2025, 7, 1)),
         ("2025_Q4", date(2025, 10, 1)))
OPEN = ("2026_Q1", date(2026, 1, 1))


def quarter_end(start: date) -> date:
    month = start.month + 3
    following = date(start.year + (month > 12), (month - 1) % 12 + 1, 1)
    return following - timedelta(days=1)


def weeks_of(start: date) -> list[str]:
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    return [str(monday), str(monday + timedelta(days=28))]  # week 1 and week 2 of the quarter


def load_rows(wh: Warehouse, folder, period: str, start: date, rows: dict[str, tuple[float, float, float]],
              exported_at: datetime) -> None:
    """`rows`: each person's call and what they had closed at week 1 and at week 2."""
    weeks = weeks_of(start)
    e = Export(period=period, start=str(start), end=str(quarter_end(start)), users=small_org(), weeks=weeks)
    reps = {"cro": 3, "m1": 2, "m2": 1}
    for uid, (call, *closed_by_week) in rows.items():
        for week, closed in zip(weeks, closed_by_week):
            e.row(uid, week, commit=call, quota=250_000 * reps.get(uid, 1), closed=closed,
                  pipeline=400_000 * reps.get(uid, 1))
    path = e.write(folder / f"{period}.json")
    wh.load_export(path, forecast_id="net_arr", job_id=f"job-{period}", requested_period=period,
                   exported_at=exported_at)


def load(wh: Warehouse, folder, period: str, start: date, calls: dict[str, float], closed: dict[str, float],
         exported_at: datetime) -> None:
    """The reps' calls and closed amounts, the same in both weeks; the managers' are their teams' sums."""
    teams = {"m1": ("r1", "r2"), "m2": ("r3",), "cro": ("r1", "r2", "r3")}
    rows = {uid: (calls[uid], closed[uid], closed[uid]) for uid in ("r1", "r2", "r3")}
    for boss, reps in teams.items():
        total = sum(closed[r] for r in reps)
        rows[boss] = (sum(calls[r] for r in reps), total, total)
    load_rows(wh, folder, period, start, rows, exported_at)


def ended_on(start: date) -> datetime:
    """An export taken two days after the quarter's last day, so its closed amounts are final."""
    return datetime.combine(quarter_end(start) + timedelta(days=2), datetime.min.time())


def ended_quarter(wh: Warehouse, folder, i: int, period: str, start: date, scale: float = 1.0) -> None:
    actual = {u: a * scale for u, a in ACTUAL.items()}
    calls = {"r1": 1.25 * actual["r1"], "r2": actual["r2"], "r3": actual["r3"] / ROB_RATIOS[i % 4]}
    load(wh, folder, period, start, calls, actual, ended_on(start))


def build_tenant(wh: Warehouse, folder) -> None:
    """Four ended quarters, and the open one with Rex calling 125,000 and 30,000 closed."""
    for i, (period, start) in enumerate(ENDED):
        ended_quarter(wh, folder, i, period, start)
    load(wh, folder, OPEN[0], OPEN[1], {"r1": 125_000, "r2": 200_000, "r3": 100_000},
         {"r1": 30_000, "r2": 50_000, "r3": 120_000}, datetime(2026, 1, 20))


@pytest.fixture(scope="module")
def tenant(module_place, tmp_path_factory):
    """The tenant, which the module's tests only read."""
    folder = tmp_path_factory.mktemp("projection")
    with Warehouse(module_place) as wh:
        build_tenant(wh, folder)
        with unchanged(wh):
            yield wh


@pytest.fixture
def own_tenant(place, tmp_path):
    """The tenant, for a test that adds to it."""
    with Warehouse(place("projection")) as wh:
        build_tenant(wh, tmp_path)
        yield wh, tmp_path


def view(wh: Warehouse, name: str) -> pd.DataFrame:
    cur = wh.cursor()
    try:
        return cur.execute(f"SELECT * FROM {name}").df()  # a fixed view name, never user input
    finally:
        cur.close()


def row(frame: pd.DataFrame, user_id: str, week: int | None = None) -> pd.Series:
    rows = frame[(frame["user_id"] == user_id) & ((frame["week_number"] == week) if week else True)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_a_rep_who_always_calls_25_percent_high_gets_a_p50_about_20_percent_below_the_call(tenant):
    wh = tenant
    rex = row(view(wh, "forecast_projection"), "r1")
    # Rex's own log ratio is ln(0.8) in each of 4 quarters; his team's (Rex's and Ria's 8 rows: four
    # ln(0.8), four 0) has median ln(0.8) / 2 and sample variance 8 (ln(0.8) / 2)^2 / 7.
    a = math.log(0.8)
    mu = (4 * a + K * a / 2) / (4 + K)
    sigma = math.sqrt((3 * 0.0 + K * (8 * (a / 2) ** 2 / 7)) / (3 + K) * (1 + 1 / (4 + K)))
    assert rex["call_amount"] == 125_000 and rex["quarters_used"] == 4
    assert rex["p50_amount"] == pytest.approx(125_000 * math.exp(mu))
    assert rex["p10_amount"] == pytest.approx(125_000 * math.exp(mu - Z90 * sigma))
    assert rex["p90_amount"] == pytest.approx(125_000 * math.exp(mu + Z90 * sigma))
    assert 0.79 < rex["p50_amount"] / 125_000 < 0.82  # about 20% below the call
    assert rex["p90_amount"] < 125_000  # his call lies above his own band
    assert "pooled toward the team" in rex["method"]


def test_a_rep_alone_in_a_team_is_projected_from_the_median_of_their_own_ratios(tenant):
    wh = tenant
    rob = row(view(wh, "forecast_projection"), "r3")
    logs = [math.log(r) for r in ROB_RATIOS]
    median = sorted(logs)[1] / 2 + sorted(logs)[2] / 2
    mean = sum(logs) / 4
    variance = sum((x - mean) ** 2 for x in logs) / 3
    # His team is himself, so pooling pulls him toward his own numbers: mu is his median.
    sigma = math.sqrt((3 * variance + K * variance) / (3 + K) * (1 + 1 / (4 + K)))
    assert median == pytest.approx(0.0)
    # Rob has closed 120,000 against a call of 100,000: no quantile lies below what is closed.
    assert 100_000 * math.exp(median - Z90 * sigma) < 120_000
    assert rob["p10_amount"] == rob["p50_amount"] == 120_000
    assert rob["p90_amount"] == pytest.approx(max(100_000 * math.exp(median + Z90 * sigma), 120_000))


def test_the_python_estimator_is_the_sql_views_own(tenant):
    wh = tenant
    hist = research.history(wh, "net_arr")
    fitted = research.fit(hist[hist["period_end"] < pd.Timestamp(OPEN[1])])
    sql = view(wh, "forecast_projection")
    rows = sql[["user_id", "week_number", "call_amount", "closed_amount"]]
    python = research.project(rows, fitted).set_index("user_id")
    for user_id, expected in sql.set_index("user_id").iterrows():
        for column in ("p10_amount", "p50_amount", "p90_amount"):
            assert python.loc[user_id, column] == pytest.approx(expected[column]), (user_id, column)
    # What the page reads: the cached statistics projected in Python, as the view projects them.
    shown = projection.members(wh, Selection("net_arr", "2026_Q1")).set_index("user_id")
    for user_id, expected in sql.set_index("user_id").iterrows():
        for column in ("p10_amount", "p50_amount", "p90_amount", "quarters_used", "method", "week_number"):
            assert shown.loc[user_id, column] == pytest.approx(expected[column]), (user_id, column)
    back = view(wh, "projection_backtest")
    mine = research.backtest(hist)
    merged = back.merge(mine, on=["forecast_id", "time_period", "week_number"], suffixes=("", "_py"))
    assert len(merged) == len(back) == len(mine) > 0
    for column in ("people", "band_coverage", "p50_wape", "call_wape"):
        assert (merged[column] - merged[f"{column}_py"]).abs().max() < 1e-9, column


def test_the_back_test_projects_each_quarter_from_earlier_ones_only(own_tenant):
    wh, folder = own_tenant
    before = view(wh, "projection_backtest")
    # Q1 and Q2 2025 have fewer than two ended quarters before them; Q3 and Q4 are back-tested.
    assert sorted(before["time_period"].unique()) == ["2025_Q3", "2025_Q4"]
    assert set(before["people"]) == {6}
    # Rex's quarter-3 projection comes from quarters 1 and 2 alone.
    hist = research.history(wh, "net_arr")
    q3 = research.project(hist[(hist["time_period"] == "2025_Q3") & (hist["user_id"] == "r1")],
                            research.fit(hist[hist["time_period"].isin(["2025_Q1", "2025_Q2"])]))
    a = math.log(0.8)
    assert q3["p50_amount"].iloc[0] == pytest.approx(125_000 * math.exp((2 * a + K * a / 2) / (2 + K)))

    # A later quarter, ended and wildly different, changes no past row, and is back-tested itself.
    ended_quarter(wh, folder, 0, "2026_Q2", date(2026, 4, 1), scale=7.0)
    after = view(wh, "projection_backtest")
    kept = after[after["time_period"].isin(["2025_Q3", "2025_Q4"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, before.reset_index(drop=True))
    assert "2026_Q2" in set(after["time_period"])


def test_the_band_s_coverage_counts_finals_between_p50_and_p90_and_none_outside(place, tmp_path):
    # Everyone called 100,000 and closed 90% of it in one quarter and 110% in the next, so in the
    # third each person's band is the same: about 80,000 / 99,500 / 122,000 at week 1. Their finals
    # land below P10 (the CRO), between P10 and P50 (Mia, Ria), between P50 and P90 (Max, Rex) and
    # above P90 (Rob).
    finals = ({"cro": 90_000, "m1": 90_000, "m2": 90_000, "r1": 90_000, "r2": 90_000, "r3": 90_000},
              {"cro": 110_000, "m1": 110_000, "m2": 110_000, "r1": 110_000, "r2": 110_000, "r3": 110_000},
              {"cro": 50_000, "m1": 97_000, "m2": 105_000, "r1": 105_000, "r2": 90_000, "r3": 150_000})
    wh = Warehouse(place("spread"))
    try:
        for (period, start), final in zip(ENDED, finals):
            # At week 1 less is closed than any quantile; at week 2 (the last) the final is.
            load_rows(wh, tmp_path, period, start, {u: (100_000, 0.4 * a, a) for u, a in final.items()},
                      ended_on(start))
        hist = research.history(wh, "net_arr")
        band = research.project(hist[hist["time_period"] == "2025_Q3"],
                                research.fit(hist[hist["time_period"] != "2025_Q3"]))
        week1 = band[band["week_number"] == 1].set_index("user_id")
        landed = week1["actual_amount"]
        assert sorted(week1.index[(landed > week1["p50_amount"]) & (landed <= week1["p90_amount"])]) == ["m2", "r1"]
        # Week 1: four of six inside [P10, P90]. Week 2: the band cannot lie below what is closed,
        # the final, so all but the CRO (whose P10 is above it) are inside.
        for backtest in (view(wh, "projection_backtest"), research.backtest(hist)):
            assert backtest[["time_period", "week_number", "people"]].values.tolist() == [
                ["2025_Q3", 1, 6], ["2025_Q3", 2, 6]]
            assert backtest["band_coverage"].tolist() == pytest.approx([4 / 6, 5 / 6])
    finally:
        wh.close()


def test_the_views_have_the_issue_s_columns(tenant):
    wh = tenant
    assert list(view(wh, "forecast_projection").columns) == [
        "forecast_id", "time_period", "user_id", "week_number", "call_amount", "closed_amount", "p10_amount",
        "p50_amount", "p90_amount", "quarters_used", "method"]
    assert list(view(wh, "projection_backtest").columns) == [
        "forecast_id", "time_period", "week_number", "people", "band_coverage", "p50_wape", "call_wape"]
    # forecast_projection holds the open quarter only, at its latest export's latest week.
    projected = view(wh, "forecast_projection")
    assert set(projected["time_period"]) == {"2026_Q1"} and set(projected["week_number"]) == {2}
    assert len(projected) == 6


def test_the_page_data_of_a_selection(tenant):
    wh = tenant
    shown = page_data.projection(wh, Selection("net_arr", "2026_Q1", reps=("r1",)))
    assert list(shown.members["user_id"]) == ["r1"]
    assert list(shown.weeks["week_number"]) == [1, 2] and (shown.weeks["users"] == 1).all()
    assert shown.week_number == 2 and shown.at_week.quarters == 2 and shown.overall.person_weeks == 24
    assert set(shown.backtest["time_period"]) == {"2025_Q3", "2025_Q4"}
    # As of a quarter-3 day, the back-test holds no quarter that had not begun before 2025_Q3.
    earlier = page_data.projection(wh, Selection("net_arr", "2025_Q3"))
    assert earlier.backtest.empty and earlier.at_week.quarters == 0
    assert "No back-test yet" in projection.summary_line(earlier.at_week)


def test_the_summary_sentence():
    s = projection.Score(quarters=4, person_weeks=240, band_coverage=0.8, p50_wape=0.03, call_wape=0.06)
    assert projection.summary_line(s, 5) == (
        "Over 4 past quarters, at week 5 of the quarter the 80% band held 80% of the time; the P50 was 50% closer "
        "to the actual than the call (WAPE 3.0% against 6.0%).")
