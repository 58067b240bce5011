"""The Plotly figure builders of clari_data/read/charts.py: small frames built by hand, assertions on the
figure's traces, colours, target lines, axes and the empty-data message."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clari_data.read import charts
from clari_data.read.charts import COLORS

UP, DOWN = COLORS["up"], COLORS["down"]


def values(seq) -> list:
    """A trace's x/y/colour array as a plain list (Plotly hands back numpy arrays or tuples)."""
    return [v.item() if isinstance(v, np.generic) else v for v in seq]


def assert_empty(fig, message: str, title: str) -> None:
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == [message]
    assert fig.layout.annotations[0].xref == "paper" and fig.layout.annotations[0].yref == "paper"
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert len(fig.layout.shapes) == 0
    assert fig.layout.height == 220
    assert fig.layout.title.text == title


# -- safe_text -------------------------------------------------------------------------------


def test_safe_text_escapes_markup_and_blanks_missing_values():
    got = charts.safe_text(["<b>Max</b>", "<script>x</script>", "O'Brien & Co", None, float("nan"),
                            np.nan, 5, "Ann"])
    assert got == ["&lt;b&gt;Max&lt;/b&gt;", "&lt;script&gt;x&lt;/script&gt;", "O&#x27;Brien &amp; Co", "", "",
                   "", "5", "Ann"]


def test_safe_text_accepts_a_series():
    assert charts.safe_text(pd.Series(["a<b", None])) == ["a&lt;b", ""]


def test_title_is_escaped():
    weekly = pd.DataFrame({"week_number": [1], "best_case_amount": [1.0], "commit_amount": [1.0],
                           "closed_amount": [1.0], "quota_amount": [np.nan]})
    fig = charts.forecast_trend(weekly, title="<i>Net ARR</i>")
    assert fig.layout.title.text == "&lt;i&gt;Net ARR&lt;/i&gt;"


# -- forecast_trend --------------------------------------------------------------------------


def trend_weeks(quota) -> pd.DataFrame:
    return pd.DataFrame({
        "week_number": [1, 2, 3],
        "best_case_amount": [300.0, 320.0, 350.0],
        "commit_amount": [200.0, 220.0, 250.0],
        "closed_amount": [50.0, 90.0, 120.0],
        "quota_amount": quota,
    })


def test_forecast_trend_draws_three_lines_in_order():
    fig = charts.forecast_trend(trend_weeks([400.0, 400.0, 400.0]))
    assert [(t.type, t.name, t.mode) for t in fig.data] == [
        ("scatter", "Best case", "lines+markers"),
        ("scatter", "Commit", "lines+markers"),
        ("scatter", "Closed won", "lines+markers"),
    ]
    assert [t.line.color for t in fig.data] == [COLORS["best_case"], COLORS["commit"], COLORS["closed"]]
    assert all(values(t.x) == [1, 2, 3] for t in fig.data)
    assert values(fig.data[0].y) == [300.0, 320.0, 350.0]
    assert values(fig.data[1].y) == [200.0, 220.0, 250.0]
    assert values(fig.data[2].y) == [50.0, 90.0, 120.0]
    assert fig.data[1].hovertemplate == "Commit: $%{y:,.0f}<extra>week %{x}</extra>"


def test_forecast_trend_quota_line_uses_the_last_known_quota():
    fig = charts.forecast_trend(trend_weeks([1_000_000.0, 1_250_000.0, np.nan]))
    assert len(fig.layout.shapes) == 1
    line = fig.layout.shapes[0]
    assert (line.y0, line.y1) == (1_250_000.0, 1_250_000.0)
    assert line.line.color == COLORS["target"] and line.line.dash == "dash"
    assert [a.text for a in fig.layout.annotations] == ["Quota $1,250,000"]


def test_forecast_trend_without_quota_has_no_line():
    fig = charts.forecast_trend(trend_weeks([np.nan, np.nan, np.nan]))
    assert len(fig.data) == 3
    assert len(fig.layout.shapes) == 0 and len(fig.layout.annotations) == 0


def test_forecast_trend_axes():
    fig = charts.forecast_trend(trend_weeks([400.0, 400.0, 400.0]))
    assert fig.layout.yaxis.tickprefix == "$" and fig.layout.yaxis.tickformat == "~s"
    assert fig.layout.xaxis.dtick == 1
    assert fig.layout.xaxis.title.text == "Week of the quarter"
    assert fig.layout.title.text == "Forecast by week"
    assert fig.layout.height == 380


def test_forecast_trend_empty():
    fig = charts.forecast_trend(trend_weeks([1.0, 1.0, 1.0]).iloc[0:0])
    assert_empty(fig, "No weeks loaded for this selection yet.", "Forecast by week")


# -- accuracy_by_week ------------------------------------------------------------------------


def accuracy_weeks() -> pd.DataFrame:
    return pd.DataFrame({
        "week_number": [1, 2, 3, 4],
        "accuracy_pct": [70.0, 85.0, 92.5, np.nan],
        "bias_pct": [-5.0, 0.0, 12.0, np.nan],
    })


def test_accuracy_by_week_bias_bars_and_accuracy_line():
    fig = charts.accuracy_by_week(accuracy_weeks(), 80.0)
    assert [(t.type, t.name) for t in fig.data] == [("bar", "Bias"), ("scatter", "Accuracy")]
    bias, accuracy = fig.data
    assert values(bias.x) == [1, 2, 3, 4]
    assert values(bias.y)[:3] == [-5.0, 0.0, 12.0] and math.isnan(values(bias.y)[3])
    # Negative bias is red; zero, positive and missing (treated as 0) are green.
    assert list(bias.marker.color) == [DOWN, UP, UP, UP]
    assert values(accuracy.y)[:3] == [70.0, 85.0, 92.5]
    assert accuracy.line.color == COLORS["commit"]


@pytest.mark.parametrize("target, label", [(80.0, "Target 80%"), (82.5, "Target 82.5%")])
def test_accuracy_by_week_target_line(target, label):
    fig = charts.accuracy_by_week(accuracy_weeks(), target)
    assert len(fig.layout.shapes) == 1
    assert fig.layout.shapes[0].y0 == target and fig.layout.shapes[0].y1 == target
    assert [a.text for a in fig.layout.annotations] == [label]
    assert fig.layout.yaxis.ticksuffix == "%"
    assert fig.layout.xaxis.dtick == 1


def test_accuracy_by_week_empty():
    fig = charts.accuracy_by_week(accuracy_weeks().iloc[0:0], 80.0)
    assert_empty(fig, "No ended period with data for this selection.", "Accuracy of the commit call by week")


# -- coverage_by_person ----------------------------------------------------------------------


def test_coverage_by_person_sorted_ascending_without_missing_ratios():
    rows = pd.DataFrame({
        "user_name": ["Ann", "Bob", "<b>Max</b>", "Quota Met", "Cy"],
        "coverage_ratio": [4.5, 1.2, 3.0, np.nan, 2.99],
    })
    fig = charts.coverage_by_person(rows, 3.0)
    assert len(fig.data) == 1
    bar = fig.data[0]
    assert bar.type == "bar" and bar.orientation == "h"
    assert values(bar.x) == [1.2, 2.99, 3.0, 4.5]
    assert list(bar.y) == ["Bob", "Cy", "&lt;b&gt;Max&lt;/b&gt;", "Ann"]
    # Below the target is red; at or above it is green.
    assert list(bar.marker.color) == [DOWN, DOWN, UP, UP]


def test_coverage_by_person_target_line_and_axis():
    rows = pd.DataFrame({"user_name": ["Ann"], "coverage_ratio": [2.0]})
    fig = charts.coverage_by_person(rows, 2.5)
    assert len(fig.layout.shapes) == 1
    assert fig.layout.shapes[0].x0 == 2.5 and fig.layout.shapes[0].x1 == 2.5
    assert [a.text for a in fig.layout.annotations] == ["Target 2.5x"]
    assert fig.layout.xaxis.ticksuffix == "x"
    assert fig.layout.title.text == "Pipeline coverage"


@pytest.mark.parametrize("people, height", [(3, 300), (10, 310), (20, 530)])
def test_coverage_by_person_height_grows_with_rows(people, height):
    rows = pd.DataFrame({"user_name": [f"P{i}" for i in range(people)],
                         "coverage_ratio": [float(i) for i in range(people)]})
    assert charts.coverage_by_person(rows, 3.0).layout.height == height


def test_coverage_by_person_no_ratios_is_empty():
    rows = pd.DataFrame({"user_name": ["Ann", "Bob"], "coverage_ratio": [np.nan, None]})
    fig = charts.coverage_by_person(rows, 3.0, title="Coverage by rep")
    assert_empty(fig, "No one in this selection has quota left to cover.", "Coverage by rep")


# -- pipeline_vs_remaining -------------------------------------------------------------------


def test_pipeline_vs_remaining_groups_two_bars_by_remaining_quota_descending():
    rows = pd.DataFrame({
        "user_name": ["Ann", "<script>x</script>", "Cy"],
        "open_pipeline_amount": [100.0, 300.0, 50.0],
        "remaining_quota_amount": [20.0, 80.0, 40.0],
    })
    fig = charts.pipeline_vs_remaining(rows)
    assert [(t.type, t.name) for t in fig.data] == [("bar", "Open pipeline"), ("bar", "Remaining quota")]
    names = ["&lt;script&gt;x&lt;/script&gt;", "Cy", "Ann"]
    assert list(fig.data[0].x) == names and list(fig.data[1].x) == names
    assert values(fig.data[0].y) == [300.0, 50.0, 100.0]
    assert values(fig.data[1].y) == [80.0, 40.0, 20.0]
    assert fig.data[0].marker.color == COLORS["pipeline"] and fig.data[1].marker.color == COLORS["quota"]
    assert fig.layout.barmode == "group"
    assert fig.layout.yaxis.tickprefix == "$" and fig.layout.yaxis.tickformat == "~s"


def test_pipeline_vs_remaining_empty():
    rows = pd.DataFrame(columns=["user_name", "open_pipeline_amount", "remaining_quota_amount"])
    assert_empty(charts.pipeline_vs_remaining(rows), "No data for this selection.",
                 "Open pipeline against remaining quota")


# -- coverage_trend --------------------------------------------------------------------------


def test_coverage_trend_skips_weeks_without_a_ratio():
    weekly = pd.DataFrame({"week_number": [1, 2, 3, 4], "coverage_ratio": [3.5, None, 2.25, 1.0]})
    fig = charts.coverage_trend(weekly, 2.5)
    assert [(t.type, t.name, t.mode) for t in fig.data] == [("scatter", "Coverage", "lines+markers")]
    assert values(fig.data[0].x) == [1, 3, 4]
    assert values(fig.data[0].y) == [3.5, 2.25, 1.0]
    assert fig.data[0].line.color == COLORS["pipeline"]
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].y0 == 2.5
    assert [a.text for a in fig.layout.annotations] == ["Target 2.5x"]
    assert fig.layout.yaxis.ticksuffix == "x" and fig.layout.yaxis.rangemode == "tozero"
    assert fig.layout.xaxis.dtick == 1


@pytest.mark.parametrize("weekly", [
    pd.DataFrame({"week_number": [1, 2], "coverage_ratio": [None, np.nan]}),
    pd.DataFrame(),
], ids=["no-ratios", "no-rows"])
def test_coverage_trend_empty(weekly):
    assert_empty(charts.coverage_trend(weekly, 3.0), "No weeks with quota left to cover.", "Coverage over the weeks")


# -- attainment_by_person --------------------------------------------------------------------


def test_attainment_by_person_sorted_coloured_by_status():
    rows = pd.DataFrame({
        "user_name": ["Ann", "Bob", "<b>Max</b>", "No Quota", "Dee"],
        "attainment_pct": [105.0, 40.0, 75.0, np.nan, 60.0],
        "forecast_to_quota_pct": [110.0, 55.0, 90.0, np.nan, 70.0],
        "status": ["on_track", "at_risk", "watch", "at_risk", "mystery"],
    })
    fig = charts.attainment_by_person(rows)
    assert len(fig.data) == 1
    bar = fig.data[0]
    assert bar.type == "bar" and bar.orientation == "h"
    assert values(bar.x) == [40.0, 60.0, 75.0, 105.0]
    assert list(bar.y) == ["Bob", "Dee", "&lt;b&gt;Max&lt;/b&gt;", "Ann"]
    # An unknown status falls back to the quota grey.
    assert list(bar.marker.color) == [COLORS["at_risk"], COLORS["quota"], COLORS["watch"], COLORS["on_track"]]
    assert values(bar.customdata) == [55.0, 70.0, 90.0, 110.0]
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == 100
    assert [a.text for a in fig.layout.annotations] == ["Quota"]
    assert fig.layout.xaxis.ticksuffix == "%"


def test_attainment_by_person_without_quota_is_empty():
    rows = pd.DataFrame({"user_name": ["Ann"], "attainment_pct": [np.nan], "forecast_to_quota_pct": [np.nan],
                         "status": ["watch"]})
    assert_empty(charts.attainment_by_person(rows), "No quota loaded for this selection.", "Quota attainment")


# -- movers ----------------------------------------------------------------------------------

MOVE_COLUMNS = ["user_name", "field_name", "change_amount"]


def moves(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=MOVE_COLUMNS)


def test_movers_one_bar_per_move_from_biggest_drop_to_biggest_rise():
    up = moves(("Ann", "Commit", 8000.0), ("<b>Max</b>", "Best Case", 20000.0))
    down = moves(("Bob", "Commit", -12000.0), ("Cy", "<i>Best</i>", -6000.0))
    fig = charts.movers(up, down)
    assert len(fig.data) == 1
    bar = fig.data[0]
    assert bar.type == "bar" and bar.orientation == "h"
    assert values(bar.x) == [-12000.0, -6000.0, 8000.0, 20000.0]
    assert list(bar.y) == ["Bob · Commit", "Cy · &lt;i&gt;Best&lt;/i&gt;", "Ann · Commit",
                           "&lt;b&gt;Max&lt;/b&gt; · Best Case"]
    assert list(bar.marker.color) == [DOWN, DOWN, UP, UP]
    assert fig.layout.xaxis.tickprefix == "$" and fig.layout.xaxis.tickformat == "~s"
    assert fig.layout.height == 300  # max(300, 24 * 4 + 90)


def test_movers_only_rises():
    fig = charts.movers(moves(("Ann", "Commit", 5000.0)), moves())
    assert values(fig.data[0].x) == [5000.0]
    assert list(fig.data[0].y) == ["Ann · Commit"]


def test_movers_only_drops():
    fig = charts.movers(moves(), moves(("Bob", "Commit", -7000.0), ("Cy", "Commit", -9000.0)))
    assert values(fig.data[0].x) == [-9000.0, -7000.0]
    assert list(fig.data[0].marker.color) == [DOWN, DOWN]


def test_movers_nothing_moved():
    assert_empty(charts.movers(moves(), moves()), "Nothing moved by at least the thresholds.", "Biggest movers")


# -- weeks by their dates --------------------------------------------------------------------


def test_weekly_charts_name_weeks_by_their_first_day_when_known():
    from datetime import date

    weekly = trend_weeks([400.0] * 3).assign(start_date=[date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 19)],
                                             coverage_ratio=[2.0, 2.5, 3.0])
    for fig in (charts.forecast_trend(weekly), charts.coverage_trend(weekly, 3.0)):
        assert values(fig.layout.xaxis.tickvals) == [1, 2, 3]
        assert list(fig.layout.xaxis.ticktext) == ["5 Oct", "12 Oct", "19 Oct"]
        assert fig.layout.xaxis.title.text == "Week of"
        assert list(fig.data[0].customdata) == ["week of 5 Oct", "week of 12 Oct", "week of 19 Oct"]
        assert fig.data[0].hovertemplate.endswith("<extra>%{customdata}</extra>")


# -- waterfall -------------------------------------------------------------------------------


def steps(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "user_name", "change_amount"])


def test_waterfall_goes_from_the_start_through_each_move_to_the_end():
    fig = charts.waterfall(1_000_000.0, steps(("r1", "Ann", 250_000.0), ("r2", "Bob", -100_000.0)), 20_000.0,
                           1_170_000.0, start_label="Mon 23 Nov", end_label="Tue 1 Dec", field_name="Commit")
    [bars] = fig.data
    assert bars.type == "waterfall"
    assert list(bars.x) == ["Mon 23 Nov", "Ann", "Bob", "Everyone else", "Tue 1 Dec"]
    assert list(bars.measure) == ["absolute", "relative", "relative", "relative", "total"]
    assert values(bars.y)[:4] == [1_000_000.0, 250_000.0, -100_000.0, 20_000.0]
    assert list(bars.text) == ["$1M", "+$250K", "-$100K", "+$20K", "$1.17M"]
    assert bars.increasing.marker.color == UP and bars.decreasing.marker.color == DOWN
    assert bars.totals.marker.color == COLORS["commit"]
    assert fig.layout.title.text == "What moved commit"
    assert fig.layout.yaxis.title.text == "Commit" and fig.layout.yaxis.tickprefix == "$"
    # Plotly's own arithmetic lands on the end total: start + moves + everyone else.
    assert sum(values(bars.y)[:4]) == 1_170_000.0
    # The axis frames the running total (1.0M .. 1.25M), not zero: the moves stay visible.
    low, high = fig.layout.yaxis.range
    assert 900_000 < low < 1_000_000 and 1_250_000 < high < 1_400_000


def test_waterfall_escapes_names_and_keeps_namesakes_apart():
    fig = charts.waterfall(10.0, steps(("a", "<b>Max</b>", 1.0), ("b", "<b>Max</b>", 2.0), ("c", None, 3.0)), 0.0,
                           16.0, start_label="<i>start</i>", end_label="end", field_name="Best case",
                           title="<script>")
    assert list(fig.data[0].x) == ["&lt;i&gt;start&lt;/i&gt;", "&lt;b&gt;Max&lt;/b&gt;",
                                   "&lt;b&gt;Max&lt;/b&gt; (2)", "", "Everyone else", "end"]
    assert fig.layout.title.text == "&lt;script&gt;"


def test_waterfall_with_nothing_moved_still_shows_start_and_end():
    fig = charts.waterfall(500.0, steps(), 0.0, 500.0, start_label="s", end_label="e", field_name="Pipeline")
    assert list(fig.data[0].x) == ["s", "Everyone else", "e"]
    assert list(fig.data[0].text) == ["$500", "+$0", "$500"]


def test_waterfall_labels_carry_a_rounded_up_amount_to_the_next_unit():
    # $999,999 was labelled "$1e+03K" when the bars had a formatter of their own.
    fig = charts.waterfall(999_999.0, steps(("r1", "Ann", -999_500.0), ("r2", "Bob", 999_499.0)), 0.0, 999_998.0,
                           start_label="s", end_label="e", field_name="Commit")
    assert list(fig.data[0].text) == ["$1M", "-$1M", "+$999K", "+$0", "$1M"]


@pytest.mark.parametrize("start, end", [(None, 5.0), (5.0, None)])
def test_waterfall_without_an_export_at_either_end(start, end):
    fig = charts.waterfall(start, steps(), 0.0, end, start_label="s", end_label="e", field_name="Commit")
    assert_empty(fig, "No export to start from or to end at for this selection.", "What moved commit")


# -- pacing ----------------------------------------------------------------------------------


def pacing_weeks() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [(w, p, label, pct) for p, label, base in (("2026_Q4", "Q4 2026", 10), ("2026_Q3", "Q3 2026", 5),
                                                      ("2026_Q2", "Q2 2026", 7))
            for w, pct in ((1, base), (2, base * 2), (3, base * 3)) if not (p == "2026_Q4" and w == 3)]
    weeks = pd.DataFrame(rows, columns=["week_number", "period", "label", "attainment_pct"])
    average = pd.DataFrame({"week_number": [1, 2, 3], "attainment_pct": [6.0, 12.0, 18.0]})
    return weeks, average


def test_pacing_draws_the_quarter_against_earlier_ones_and_their_average():
    weeks, average = pacing_weeks()
    fig = charts.pacing(weeks, average, "2026_Q4")
    assert [t.name for t in fig.data] == ["Q3 2026", "Q2 2026", "2-quarter average", "Q4 2026"]
    current = fig.data[-1]
    assert values(current.x) == [1, 2] and values(current.y) == [10, 20]
    assert current.line.color == COLORS["closed"] and current.line.width == 3 and current.mode == "lines+markers"
    assert all(t.line.color == COLORS["quota"] and t.line.width == 1 for t in fig.data[:2])
    assert fig.data[2].line.dash == "dash" and values(fig.data[2].y) == [6.0, 12.0, 18.0]
    assert fig.layout.yaxis.ticksuffix == "%" and fig.layout.yaxis.title.text == "Closed won / quota"
    assert fig.layout.xaxis.title.text == "Week of the quarter"
    assert [s.y0 for s in fig.layout.shapes] == [100]


def test_pacing_without_earlier_quarters_shows_the_quarter_alone():
    weeks, _ = pacing_weeks()
    alone = weeks[weeks["period"] == "2026_Q4"]
    fig = charts.pacing(alone, pd.DataFrame(columns=["week_number", "attainment_pct"]), "2026_Q4")
    assert [t.name for t in fig.data] == ["Q4 2026"]


def test_pacing_without_data():
    weeks, average = pacing_weeks()
    assert_empty(charts.pacing(weeks.iloc[0:0], average.iloc[0:0], "2026_Q4"),
                 "No quota loaded for this selection yet.", "Pacing against past quarters")
