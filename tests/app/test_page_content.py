"""What each page shows, number by number: AppTest on the small tenant of tests/content_tenant.py
(its docstring has every input), each expected value worked out by hand here from those inputs,
never read back from the views or the page_data functions the page itself calls.

Amounts below are in thousands (K) unless written in dollars. Figures are read from the chart's
Plotly JSON, tables from the DataFrame the page hands to st.dataframe, metrics from st.metric.
"""

from __future__ import annotations

import base64
import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest
from apptest_helpers import run, texts
from content_tenant import E1_AT, FAILURE, MANUAL_BY, NAMES, WIDE_COVERAGE, K, build, build_wide
from streamlit.proto.Metric_pb2 import Metric

from clari_data.read.projection import POOLING, Z90
from ui.format import money
from ui.page import SPREAD_FROM

CONFIG = "[schedule]\nenabled = false\n"  # nothing but the tests' own loads changes the data
RED, AMBER, GREEN = "#dc2626", "#f59e0b", "#059669"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    return build(tmp_path_factory.mktemp("content"))


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    return build_wide(tmp_path_factory.mktemp("wide"))


@pytest.fixture
def open_app(make_app):
    """open_app(db) -> a new AppTest session of app.py on this test's own copy of the warehouse."""
    return lambda db: make_app(CONFIG, db)


# -- reading what the page shows ---------------------------------------------------------------


def a(value: float):
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def values(data) -> list:
    """A trace's x or y as a list, plain or in Plotly's typed-array form."""
    if data is None:
        return []
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
    return list(data)


def figures(at) -> dict[str, dict]:
    """Each chart's Plotly figure by the key the page gave it (the element id ends with it)."""
    return {c.proto.id.split("-", 2)[2]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def title(fig: dict) -> str:
    return fig["layout"]["title"]["text"]


def trace(fig: dict, name: str | None = None) -> dict:
    [found] = [t for t in fig["data"] if t.get("name") == name]
    return found


def plain(value):
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def rows(df: pd.DataFrame, *columns: str) -> list[tuple]:
    return [tuple(plain(v) for v in row) for row in df[list(columns)].itertuples(index=False)]


def unescaped(elements) -> str:
    return " ".join(texts(elements)).replace("\\", "")


# -- Overview ----------------------------------------------------------------------------------


def test_overview_headline_its_changes_and_the_week_before(open_app, tenant):
    at = run(open_app(tenant))
    metrics = {m.label: m for m in at.metric}
    # Cleo's W3 row at E3 (the top of the hierarchy, her team's roll-up):
    #   quota 500, closed 155, gap 500 - 155 = 345, attainment 155 / 500 = 31%, commit 335,
    #   best case 455, open pipeline 760 - 155 = 605, coverage 605 / 345 = 1.75 -> 1.8x.
    assert {label: m.value for label, m in metrics.items()} == {
        "Quota": "$500K", "Closed won": "$155K", "Gap to quota": "$345K", "Attainment": "31%",
        "Commit": "$335K", "Best case": "$455K", "Open pipeline": "$605K", "Coverage": "1.8x"}
    # Against E2 (W3: closed 140, commit 370, best 475, pipeline 780; quota 500):
    #   closed +15, gap 345 - 360 = -15, attainment 31% - 28% = +3.0 pts, commit 335 - 370 = -35,
    #   best 455 - 475 = -20, open 605 - 640 = -35, coverage 605/345 - 640/360 = 1.754 - 1.778 = -0.02x.
    assert {label: m.proto.delta for label, m in metrics.items()} == {
        "Quota": "0", "Closed won": "+$15.0K", "Gap to quota": "-$15.0K", "Attainment": "+3.0 pts",
        "Commit": "-$35.0K", "Best case": "-$20.0K", "Open pipeline": "-$35.0K", "Coverage": "-0.02x"}
    colour = Metric.MetricColor
    # A smaller gap to quota is good news (green); less commit, best case, pipeline, coverage bad.
    assert metrics["Gap to quota"].proto.color == colour.GREEN and metrics["Closed won"].proto.color == colour.GREEN
    assert all(metrics[label].proto.color == colour.RED for label in ("Commit", "Best case", "Open pipeline",
                                                                        "Coverage"))
    # Against E1, 7 days before E3 (its latest week W2: closed 110, commit 340, best 440, pipeline 750):
    #   closed +45, gap 345 - 390 = -45, attainment 31% - 22% = +9.0 pts, commit -5, best +15,
    #   open 605 - 640 = -35, coverage 1.754 - 640/390 = 1.754 - 1.641 = +0.11x.
    week_ago = {"Quota": "no change", "Closed won": "+$45.0K", "Gap to quota": "-$45.0K",
                "Attainment": "+9.0 pts", "Commit": "-$5.00K", "Best case": "+$15.0K", "Open pipeline": "-$35.0K",
                "Coverage": "+0.11x"}
    for label, change in week_ago.items():
        assert f"(the export of Mon 9 Nov 2026, 08:00 UTC (simulated)): {change}." in metrics[label].proto.help, label
    caption = unescaped(at.caption)
    assert "Numbers of the whole organisation (the roll-up at the top of the hierarchy); latest week: week of " \
           "16 Nov. Changes are against the previous export (Mon 16 Nov 2026, 08:00 UTC (simulated))" in caption


def test_overview_of_a_team_is_its_manager_s_row(open_app, tenant):
    at = run(open_app(tenant), team="m1")
    metrics = {m.label: m for m in at.metric}
    # Mia at E3: quota 300, closed 105, gap 195, 35%, commit 225 (Rex 95 + Ria's adjusted 130), best 305,
    # open 500 - 105 = 395, coverage 395 / 195 = 2.03 -> 2.0x. Against E2 (closed 90, commit 230,
    # best 305, pipeline 500): +15, -15, +5.0 pts, -5, unchanged, 395 - 410 = -15, 2.026 - 410/210 = +0.07x.
    assert {label: (m.value, m.proto.delta) for label, m in metrics.items()} == {
        "Quota": ("$300K", "0"), "Closed won": ("$105K", "+$15.0K"), "Gap to quota": ("$195K", "-$15.0K"),
        "Attainment": ("35%", "+5.0 pts"), "Commit": ("$225K", "-$5.00K"), "Best case": ("$305K", "0"),
        "Open pipeline": ("$395K", "-$15.0K"), "Coverage": ("2.0x", "+0.07x")}


def test_overview_trend_and_pacing(open_app, tenant):
    at = run(open_app(tenant))
    charts = figures(at)
    trend = charts["overview-trend"]
    assert title(trend) == "Forecast by week, Q4 2026"
    # Cleo's weeks W1, W2, W3 (W3 as E3 has it).
    for name, expected in (("Best case", [400, 440, 455]), ("Commit", [300, 340, 335]),
                           ("Closed won", [70, 110, 155])):
        line = trace(trend, name)
        assert values(line["x"]) == [1, 2, 3] and values(line["y"]) == [v * K for v in expected], name
    assert trend["layout"]["xaxis"]["ticktext"] == ["2 Nov", "9 Nov", "16 Nov"]
    assert [n["text"] for n in trend["layout"]["annotations"]] == ["Quota $500,000"]

    pacing = charts["overview-pacing"]
    assert title(pacing) == "Closed won / quota by week of quarter, Q4 2026 against the 1 quarter before"
    # Closed won / quota of Cleo by week: Q3 155, 285, 410 of 500; Q4 70, 110, 155 of 500.
    assert values(trace(pacing, "Q3 2026")["y"]) == [a(31.0), a(57.0), a(82.0)]
    assert values(trace(pacing, "1-quarter average")["y"]) == [a(31.0), a(57.0), a(82.0)]
    assert values(trace(pacing, "Q4 2026")["y"]) == [a(14.0), a(22.0), a(31.0)]
    # At week 3: 31% - 82% = -51.0 points.
    assert "**51.0 points behind the 1-quarter average at week 3**" in " ".join(texts(at.markdown))


# -- Pipeline coverage -------------------------------------------------------------------------
#
# W3 at E3, open = pipeline - closed, remaining = quota - closed, coverage = open / remaining:
#   Rex  170-45=125 / 100-45=55   = 2.2727     Mia  500-105=395 / 300-105=195 = 2.0256
#   Ria  330-60=270 / 200-60=140  = 1.9286     Max  260-50=210  / 200-50=150  = 1.4
#   Rob  200-40=160 / 150-40=110  = 1.4545     Cleo 760-155=605 / 500-155=345 = 1.7536
COVERAGE_ROW = {"Rex Rep": (100, 45, 170, 125, 55), "Ria Rep": (200, 60, 330, 270, 140),
                "Rob Rep": (150, 40, 200, 160, 110), "Mia Manager": (300, 105, 500, 395, 195),
                "Max Manager": (200, 50, 260, 210, 150), "Cleo Root": (500, 155, 760, 605, 345)}


def coverage_rows(*names: str) -> list[tuple]:
    return [(n, *(v * K for v in COVERAGE_ROW[n]), a(COVERAGE_ROW[n][3] / COVERAGE_ROW[n][4])) for n in names]


TABLE_COLUMNS = ("user_name", "quota_amount", "closed_amount", "pipeline_amount", "open_pipeline_amount",
                 "remaining_quota_amount", "coverage_ratio")


def test_coverage_bars_are_the_direct_reports_and_the_table_everyone_below(open_app, tenant):
    at = run(open_app(tenant), "views/coverage.py")
    charts = figures(at)
    assert sum(uid.startswith("r") for uid in NAMES) < SPREAD_FROM  # three reps: no spread yet
    assert set(charts) == {"coverage-direct", "coverage-pipeline", "coverage-trend"}
    bars = charts["coverage-direct"]
    assert title(bars) == "Coverage by direct report of Cleo Root"
    # Cleo's direct reports are the two managers, lowest coverage first; both under the 3x target.
    [bar] = bars["data"]
    assert bar["y"] == ["Max Manager", "Mia Manager"]
    assert values(bar["x"]) == [a(210 / 150), a(395 / 195)]
    assert bar["marker"]["color"] == [RED, RED]
    # The table: Cleo's own row and everyone below her, lowest coverage first.
    table = at.dataframe[0].value
    assert rows(table, *TABLE_COLUMNS) == coverage_rows("Max Manager", "Rob Rep", "Cleo Root", "Ria Rep",
                                                        "Mia Manager", "Rex Rep")
    assert rows(table, "user_name", "manager", "is_manager")[:3] == [
        ("Max Manager", "CRO", True), ("Rob Rep", "MGR-2", False), ("Cleo Root", None, True)]
    # Open pipeline beside remaining quota for the direct reports, most quota left first.
    pipeline = charts["coverage-pipeline"]
    assert trace(pipeline, "Open pipeline")["x"] == ["Mia Manager", "Max Manager"]
    assert values(trace(pipeline, "Open pipeline")["y"]) == [395 * K, 210 * K]
    assert values(trace(pipeline, "Remaining quota")["y"]) == [195 * K, 150 * K]
    # Cleo's coverage by week: W1 (710-70)/(500-70) = 640/430, W2 (750-110)/(500-110) = 640/390, W3 605/345.
    [line] = charts["coverage-trend"]["data"]
    assert values(line["y"]) == [a(640 / 430), a(640 / 390), a(605 / 345)]
    said = unescaped(at.caption)
    assert "The bars are the direct reports of Cleo Root (2: sub-teams and reps); the spread is every rep below " \
           "Cleo Root (3); the table is Cleo Root's own row and everyone below (5 people)." in said.replace("**", "")


def test_coverage_of_a_team(open_app, tenant):
    at = run(open_app(tenant), "views/coverage.py", team="m1")
    [bar] = figures(at)["coverage-direct"]["data"]
    assert bar["y"] == ["Ria Rep", "Rex Rep"]  # Mia's reps; not Rob, not the managers
    assert values(bar["x"]) == [a(270 / 140), a(125 / 55)]
    assert rows(at.dataframe[0].value, *TABLE_COLUMNS) == coverage_rows("Ria Rep", "Mia Manager", "Rex Rep")


def test_coverage_spread_is_every_rep_below_and_the_bars_the_managers(open_app, wide):
    assert len(WIDE_COVERAGE) >= SPREAD_FROM  # enough reps for the spread
    at = run(open_app(wide), "views/coverage.py")
    charts = figures(at)
    # Ann Lead: pipeline 60+100+100+252+260 = 772, closed 5 x 20 = 100, quota 500: 672 / 400 = 1.68.
    # Ben Lead: pipeline 289+370+505+550+910 = 2,624, closed 50, quota 500: 2,574 / 450 = 5.72.
    [bar] = charts["coverage-direct"]["data"]
    assert bar["y"] == ["Ann Lead", "Ben Lead"] and values(bar["x"]) == [a(1.68), a(5.72)]
    assert bar["marker"]["color"] == [RED, GREEN]
    spread = charts["coverage-spread"]
    assert title(spread) == "Coverage of every rep below Tia Top"
    # The ten reps' coverage in bins of 0.25x from 0 to 6x (6x and 10x share the last, "5.75x or more"):
    # 0.5 -> bin 2, 1.0 and 1.0 -> bin 4, 2.9 -> 11, 3.0 and 3.1 -> 12, 4.0 -> 16, 5.5 -> 22, 6 and 10 -> 23.
    counts = [0] * 24
    for index in (2, 4, 4, 11, 12, 12, 16, 22, 23, 23):
        counts[index] += 1
    [bins] = spread["data"]
    assert values(bins["y"]) == counts
    assert bins["customdata"][2] == "0.5x–0.75x" and bins["customdata"][-1] == "5.75x or more"
    assert [n["text"] for n in spread["layout"]["annotations"]] == ["Target 3x: 4 of 10 below"]  # 0.5, 1, 1, 2.9
    assert len(at.dataframe[0].value) == 13  # Tia, her two leads and their ten reps
    said = unescaped(at.caption).replace("**", "")
    assert "direct reports of Tia Top (2: sub-teams and reps); the spread is every rep below Tia Top (10); the " \
           "table is Tia Top's own row and everyone below (12 people)" in said


# -- Rep performance ---------------------------------------------------------------------------
#
# W3 at E3: attainment = closed / quota, commit / quota (status: at risk under 70%, on track from 90%):
#   Rex  45/100 = 45%,  95/100 = 95% on track     Mia  105/300 = 35%, 225/300 = 75% watch
#   Ria  60/200 = 30%, 130/200 = 65% at risk      Max   50/200 = 25%, 110/200 = 55% at risk
#   Rob  40/150 = 26.7%, 80/150 = 53.3% at risk   Cleo 155/500 = 31%, 335/500 = 67% at risk
# Ria's commit is Mia's adjustment, 130 against her own call of 150: an override of -20.
REPS_COLUMNS = ("user_name", "attainment_pct", "forecast_to_quota_pct", "status", "quota_amount", "closed_amount",
                "forecast_amount", "is_updated", "adjustment_delta")


def test_reps_attainment_status_and_leaderboard(open_app, tenant):
    at = run(open_app(tenant), "views/reps.py")
    bars = figures(at)["reps-attainment"]
    assert title(bars) == "Quota attainment by direct report of Cleo Root"
    [bar] = bars["data"]
    assert bar["y"] == ["Max Manager", "Mia Manager"]  # the direct reports, lowest attainment first
    assert values(bar["x"]) == [a(25.0), a(35.0)] and values(bar["customdata"]) == [a(55.0), a(75.0)]
    assert bar["marker"]["color"] == [RED, AMBER]  # at risk, watch
    # The leaderboard: managers first, then reps, each by attainment, highest first.
    assert rows(at.dataframe[0].value, *REPS_COLUMNS) == [
        ("Mia Manager", a(35.0), a(75.0), "Watch", 300 * K, 105 * K, 225 * K, False, None),
        ("Cleo Root", a(31.0), a(67.0), "At risk", 500 * K, 155 * K, 335 * K, False, None),
        ("Max Manager", a(25.0), a(55.0), "At risk", 200 * K, 50 * K, 110 * K, False, None),
        ("Rex Rep", a(45.0), a(95.0), "On track", 100 * K, 45 * K, 95 * K, True, None),
        ("Ria Rep", a(30.0), a(65.0), "At risk", 200 * K, 60 * K, 130 * K, False, -20 * K),
        ("Rob Rep", a(100 * 40 / 150), a(100 * 80 / 150), "At risk", 150 * K, 40 * K, 80 * K, True, None),
    ]
    assert "2 of 3 reps updated their call this week." in unescaped(at.caption)  # Rex and Rob


def test_reps_of_a_team(open_app, tenant):
    at = run(open_app(tenant), "views/reps.py", team="m1")
    [bar] = figures(at)["reps-attainment"]["data"]
    assert bar["y"] == ["Ria Rep", "Rex Rep"] and values(bar["x"]) == [a(30.0), a(45.0)]
    assert bar["marker"]["color"] == [RED, GREEN]  # at risk, on track
    assert rows(at.dataframe[0].value, "user_name", "status") == [("Mia Manager", "Watch"), ("Rex Rep", "On track"),
                                                                  ("Ria Rep", "At risk")]
    assert "1 of 2 reps updated their call this week." in unescaped(at.caption)


def test_reps_spread_is_commit_to_quota_of_every_rep_below(open_app, wide):
    at = run(open_app(wide), "views/reps.py")
    charts = figures(at)
    # Ann: closed 100 of 500 = 20%, commit 20+50+69+70+89 = 298 of 500 = 59.6% (at risk);
    # Ben: 50 of 500 = 10%, commit 90+100+150+199+250 = 789 of 500 = 157.8% (on track).
    [bar] = charts["reps-attainment"]["data"]
    assert bar["y"] == ["Ben Lead", "Ann Lead"] and values(bar["x"]) == [a(10.0), a(20.0)]
    assert values(bar["customdata"]) == [a(157.8), a(59.6)] and bar["marker"]["color"] == [GREEN, RED]
    spread = charts["reps-spread"]
    # Commit / quota of the ten reps in bins of 10% up to 200% (199 and 250 share "190% or more"):
    # 20 -> bin 2, 50 -> 5, 69 -> 6, 70 -> 7, 89 -> 8, 90 -> 9, 100 -> 10, 150 -> 15, 199 and 250 -> 19.
    counts = [0] * 20
    for index in (2, 5, 6, 7, 8, 9, 10, 15, 19, 19):
        counts[index] += 1
    [bins] = spread["data"]
    assert values(bins["y"]) == counts
    # Bins ending at or under 70% red (at risk), then amber up to 90% (watch), green beyond.
    assert bins["marker"]["color"] == [RED] * 7 + [AMBER] * 2 + [GREEN] * 11
    assert [n["text"] for n in spread["layout"]["annotations"]] == ["Target 90%: 5 of 10 below"]


# -- Forecast accuracy -------------------------------------------------------------------------
#
# Q3 has ended (exported 5 Oct); Q4 has not, so the page shows Q3. Accuracy = 100 (1 - |F - A| / |A|),
# bias = 100 (F - A) / |A|, A = closed won at W3:
#   Rex  F 100 x3, A 125: 80%, -20% each week        Mia  F 300 x3, A 285: 100(1 - 15/285) = 94.74%, +5.26%
#   Ria  F 200 x3, A 160: 75%, +25% each week        Max  F 100, 110, 120, A 125: 80, 88, 96% (mean 88%);
#   Rob  F 80, 90, 100, A 100: 80, 90, 100%                -20, -12, -4% (mean -12%)
#        (mean 90%); bias -20, -10, 0 (mean -10%)    Cleo F 400, 410, 420, A 410: 97.56, 100, 97.56%;
#                                                           bias -2.44, 0, +2.44%
ACCURACY_COLUMNS = ("user_name", "mean_accuracy_pct", "mean_bias_pct", "actual_amount", "weeks")


def test_accuracy_by_week_and_per_person(open_app, tenant):
    at = run(open_app(tenant), "views/accuracy.py")
    assert "Q4 2026 has not ended, so its actual is not known yet; showing Q3 2026" in unescaped(at.info)
    chart = figures(at)["accuracy-by-week"]
    assert title(chart) == "Accuracy of the commit call by week, Cleo Root, Q3 2026"
    # The headline is Cleo's own call, week by week.
    assert values(trace(chart, "Accuracy")["y"]) == [a(100 * (1 - 10 / 410)), a(100.0), a(100 * (1 - 10 / 410))]
    assert values(trace(chart, "Bias")["y"]) == [a(-100 * 10 / 410), a(0.0), a(100 * 10 / 410)]
    assert chart["layout"]["xaxis"]["ticktext"] == ["14 Sep", "21 Sep", "28 Sep"]
    direct, below, by_week = (d.value for d in at.dataframe)
    # Cleo's direct reports, least accurate first: Max 88%, then Mia 94.74%.
    assert rows(direct, *ACCURACY_COLUMNS) == [
        ("Max Manager", a(88.0), a(-12.0), 125 * K, 3),
        ("Mia Manager", a(100 * (1 - 15 / 285)), a(100 * 15 / 285), 285 * K, 3)]
    # Everyone below Cleo, least accurate first.
    assert rows(below, *ACCURACY_COLUMNS) == [
        ("Ria Rep", a(75.0), a(25.0), 160 * K, 3), ("Rex Rep", a(80.0), a(-20.0), 125 * K, 3),
        ("Max Manager", a(88.0), a(-12.0), 125 * K, 3), ("Rob Rep", a(90.0), a(-10.0), 100 * K, 3),
        ("Mia Manager", a(100 * (1 - 15 / 285)), a(100 * 15 / 285), 285 * K, 3)]
    # Accuracy by week, per person: Cleo's row and everyone below, by name.
    mia = 100 * (1 - 15 / 285)
    cleo = 100 * (1 - 10 / 410)
    assert rows(by_week, "user_name", "W1", "W2", "W3") == [
        ("Cleo Root", a(cleo), a(100.0), a(cleo)), ("Max Manager", a(80.0), a(88.0), a(96.0)),
        ("Mia Manager", a(mia), a(mia), a(mia)), ("Rex Rep", a(80.0), a(80.0), a(80.0)),
        ("Ria Rep", a(75.0), a(75.0), a(75.0)), ("Rob Rep", a(80.0), a(90.0), a(100.0))]


def test_accuracy_of_a_team(open_app, tenant):
    at = run(open_app(tenant), "views/accuracy.py", team="m1")
    chart = figures(at)["accuracy-by-week"]
    assert title(chart) == "Accuracy of the commit call by week, Mia Manager, Q3 2026"
    mia = 100 * (1 - 15 / 285)
    assert values(trace(chart, "Accuracy")["y"]) == [a(mia)] * 3
    assert values(trace(chart, "Bias")["y"]) == [a(100 * 15 / 285)] * 3
    assert rows(at.dataframe[0].value, "user_name", "mean_accuracy_pct") == [("Ria Rep", a(75.0)),
                                                                            ("Rex Rep", a(80.0))]


# -- Recent changes ----------------------------------------------------------------------------


def waterfall(at) -> tuple[list, list, list]:
    [bars] = figures(at)["changes-waterfall"]["data"]
    return bars["x"], values(bars["y"]), bars["measure"]


def test_changes_waterfall_from_the_start_of_the_week(open_app, tenant):
    at = run(open_app(tenant), "views/changes.py")
    # The week began Mon 16 Nov 00:00: its first export is E2. Cleo's commit 370 -> 335; the steps are the
    # managers reporting to her: Max 140 -> 110 (-30), Mia 230 -> 225 (-5); everyone else 335 - 370 + 35 = 0.
    x, y, measure = waterfall(at)
    assert x == ["Start, 16 Nov", "Max Manager", "Mia Manager", "Everyone else", "End, 17 Nov"]
    assert y == [370 * K, -30 * K, -5 * K, 0, 335 * K]
    assert measure == ["absolute", "relative", "relative", "relative", "total"]
    assert rows(at.dataframe[0].value, "user_name", "start_amount", "end_amount", "change_amount") == [
        ("Max Manager", 140 * K, 110 * K, -30 * K), ("Mia Manager", 230 * K, 225 * K, -5 * K)]
    assert "from the export of Mon 16 Nov 2026, 08:00 UTC (simulated) to the latest, of Tue 17 Nov 2026" \
        in unescaped(at.caption)


def test_changes_waterfall_from_the_quarter_s_first_export(open_app, tenant):
    at = run(open_app(tenant), "views/changes.py", **{"from": "quarter"})
    # E1 (its latest week W2) -> E3: Cleo 340 -> 335; Max 130 -> 110 (-20), Mia 210 -> 225 (+15); 0 else.
    x, y, _ = waterfall(at)
    assert x == ["Start, 9 Nov", "Max Manager", "Mia Manager", "Everyone else", "End, 17 Nov"]
    assert y == [340 * K, -20 * K, 15 * K, 0, 335 * K]


def test_changes_waterfall_of_a_team_counts_its_reps_and_everyone_else(open_app, tenant):
    # Mia's reps: Rex 80 -> 95 (+15), Ria 150 -> 130 (Mia's adjustment, -20); Mia 230 -> 225: nothing else.
    at = run(open_app(tenant), "views/changes.py", team="m1")
    x, y, _ = waterfall(at)
    assert x == ["Start, 16 Nov", "Ria Rep", "Rex Rep", "Everyone else", "End, 17 Nov"]
    assert y == [230 * K, -20 * K, 15 * K, 0, 225 * K]
    # Max's rep Rob 112 -> 80 (-32); Max 140 -> 110 (-30): his house accounts moved 140 - 110 - 32 = +2.
    at = run(open_app(tenant), "views/changes.py", team="m2")
    x, y, _ = waterfall(at)
    assert x == ["Start, 16 Nov", "Rob Rep", "Everyone else", "End, 17 Nov"]
    assert y == [140 * K, -32 * K, 2 * K, 110 * K]


MOVE_COLUMNS = ("user_name", "field_name", "previous_amount", "current_amount", "change_amount", "change_pct")


def move(name: str, field: str, before: int, now: int) -> tuple:
    return (name, field, before * K, now * K, (now - before) * K, a(100 * (now - before) / before))


def by_person(moves: list[tuple]) -> list[tuple]:
    return sorted(moves, key=lambda m: (m[0], m[1]))


def test_changes_movers_at_the_default_thresholds(open_app, tenant):
    at = run(open_app(tenant), "views/changes.py")
    charts = figures(at)
    _, since_previous, over_week = (d.value for d in at.dataframe)
    # E2 -> E3 (both W3), moves of at least 10% and $5,000. Cleo's commit -35 is -9.5%: it does not count,
    # nor Rob's and Max's pipeline (-9.1%, -7.1%), Mia's commit (-2.2%) or Cleo's best case and pipeline.
    # Ria's call stays 150 (Mia's adjustment is not her call).
    expected = [move("Cleo Root", "Closed Won", 140, 155), move("Max Manager", "Best Case", 170, 150),
                move("Max Manager", "Commit", 140, 110), move("Mia Manager", "Closed Won", 90, 105),
                move("Rex Rep", "Closed Won", 30, 45), move("Rex Rep", "Commit", 80, 95),
                move("Rob Rep", "Best Case", 140, 120), move("Rob Rep", "Commit", 112, 80)]
    assert by_person(rows(since_previous, *MOVE_COLUMNS)) == expected
    [bars] = charts["movers-previous"]["data"]
    assert title(charts["movers-previous"]) == "Biggest movers (8 moves at or above the thresholds)"
    assert sorted(zip(bars["y"], values(bars["x"]))) == sorted(
        (f"{m[0]} · {m[1]}", m[4]) for m in expected)
    # E1 (W2) -> E3 (W3), the week's window: ten moves count.
    week = [move("Cleo Root", "Closed Won", 110, 155), move("Max Manager", "Closed Won", 40, 50),
            move("Max Manager", "Commit", 130, 110), move("Mia Manager", "Closed Won", 70, 105),
            move("Rex Rep", "Best Case", 100, 115), move("Rex Rep", "Closed Won", 20, 45),
            move("Rex Rep", "Commit", 70, 95), move("Ria Rep", "Closed Won", 50, 60),
            move("Rob Rep", "Closed Won", 30, 40), move("Rob Rep", "Commit", 100, 80)]
    assert by_person(rows(over_week, *MOVE_COLUMNS)) == week
    assert title(charts["movers-week"]) == "Biggest movers (10 moves at or above the thresholds)"
    # The biggest first in the tables.
    assert rows(over_week, "user_name", "change_amount")[0] == ("Cleo Root", 45 * K)


# -- Projection --------------------------------------------------------------------------------
#
# The learned ratio r = ln(final closed won / commit call at the week) of Q3, the one ended quarter
# before Q4: n = 1 quarter of each person's own, pooled with k (POOLING) toward their group (the same
# manager and role, two people or more; else everyone of their role):
#   mu = (1 r_own + k m_group) / (1 + k),  sigma^2 = (0 + k v_group) / k x (1 + 1/(1 + k)),
#   Pq = max(call x exp(mu + z sigma), closed won), z = -Z90, 0, Z90.
LN = math.log
WEEK3 = {"r1": LN(125 / 100), "r2": LN(160 / 200), "r3": LN(100 / 100),  # Q3 W3 calls 100, 200, 100
         "m1": LN(285 / 300), "m2": LN(125 / 120), "cro": LN(410 / 420)}
GROUP = {"r1": ("r1", "r2"), "r2": ("r1", "r2"),  # Mia's two reps
         "r3": ("r1", "r2", "r3"),  # Rob is alone under Max: every rep
         "m1": ("m1", "m2"), "m2": ("m1", "m2"),  # the managers under Cleo
         "cro": ("m1", "m2", "cro")}  # Cleo is alone at the top: every manager


def band(uid: str, call: float, closed: float) -> tuple[float, float, float]:
    group = [WEEK3[g] for g in GROUP[uid]]
    mu = (WEEK3[uid] + POOLING * statistics.median(group)) / (1 + POOLING)
    sigma = math.sqrt(statistics.variance(group) * (1 + 1 / (1 + POOLING)))
    p10, p50, p90 = (max(call * math.exp(mu + z * sigma), closed) for z in (-Z90, 0.0, Z90))
    return p10, p50, p90


def test_projection_of_the_top_and_per_person(open_app, tenant):
    at = run(open_app(tenant), "views/projection.py")
    # Rex under-called Q3 by 25% (125 on 100); pooled with weight k toward Mia's team (Ria over-called
    # by 20%: the median of ln 1.25 and ln 0.8 is 0), his Q4 call of 95 projects to 95 x 1.25^(1/(1+k)).
    assert band("r1", 95 * K, 45 * K)[1] == pytest.approx(95 * K * 1.25 ** (1 / (1 + POOLING)))
    calls = {"cro": (335, 155), "m2": (110, 50), "m1": (225, 105), "r1": (95, 45), "r2": (130, 60), "r3": (80, 40)}
    names = {"cro": "Cleo Root", "m2": "Max Manager", "m1": "Mia Manager", "r1": "Rex Rep", "r2": "Ria Rep",
             "r3": "Rob Rep"}
    table = at.dataframe[0].value
    expected = []
    for uid, (call, closed) in calls.items():
        p10, p50, p90 = band(uid, call * K, closed * K)
        # The table shows whole dollars.
        expected.append((names[uid], call * K, round(p50), closed * K, 1, round(p10), round(p90), ""))
    assert rows(table, "user_name", "call_amount", "p50_amount", "closed_amount", "quarters_used", "p10_amount",
                "p90_amount", "call_outside") == expected
    assert "0 of 6 people with a band call outside it" in unescaped(at.caption)
    # Cleo's own ratio is her group's median at every week (W1: ln 410/400 between Mia's ln 285/300 and
    # Max's ln 125/100; W2: 0; W3: ln 410/420), so her P50 is the call x 410 / her Q3 call of that week.
    fan = figures(at)["projection-fan"]
    assert values(trace(fan, "P50 (projection)")["y"]) == [a(300 * K * 410 / 400), a(340 * K), a(335 * K * 410 / 420)]
    assert values(trace(fan, "Commit call")["y"]) == [300 * K, 340 * K, 335 * K]
    assert values(trace(fan, "Closed won")["y"]) == [70 * K, 110 * K, 155 * K]
    p10, p50, p90 = band("cro", 335 * K, 155 * K)
    assert p50 == pytest.approx(335 * K * 410 / 420)
    assert [(m.label, m.value) for m in at.metric] == [
        ("P10", money(p10)), ("P50 (projection)", "$327K"), ("P90", money(p90)), ("Commit call", "$335K"),
        ("P50 − call", "-$7.98K")]  # 335 x 410/420 - 335 = -7.976
    assert "No back-test yet" in unescaped(at.info)  # one ended quarter: none has two before it


# -- Data & refresh ----------------------------------------------------------------------------


def test_data_page_run_and_export_history(open_app, tenant):
    at = run(open_app(tenant), "views/data.py")
    runs, exports, _notifications, counts = (d.value for d in at.dataframe)
    # Five runs, newest first. Rows: entries of the export (6 people x 5 fields x its weeks: 3, 2, 3, 3).
    # Changes: moves counting at 10% and $5,000 (E2 against E1: Rex's commit, best case and closed won,
    # Ria's, Rob's (+ his commit 100 -> 112), Mia's, Max's and Cleo's closed won = 9; E3 against E2: 8).
    assert rows(runs, "run_id", "trigger", "requested_by", "outcome", "exports_loaded", "rows_loaded",
                "changes_detected", "error") == [
        (5, "Refresh now", MANUAL_BY, "success", 1, 90, 8, None),
        (4, "Schedule", None, "success", 1, 90, 9, None),
        (3, "Schedule", None, "failed", 0, 0, 0, FAILURE),
        (2, "Schedule", None, "success", 1, 60, 0, None),
        (1, "Schedule", None, "success", 1, 90, 0, None)]
    # Export attempts, newest first. Cells: E1 adds its 60, E2 adds W3's 30; E3 changes 15 of W3's cells
    # (Rex: commit, closed; Ria: commit (the adjustment); Rob and Max: commit, best, pipeline; Mia:
    # commit, closed; Cleo: commit, best, closed, pipeline).
    assert rows(exports, "forecast", "period", "status", "job_id", "exported_at", "entries", "cells_added",
                "cells_changed", "cells_removed", "changes_detected", "error") == [
        ("Net ARR", "Q4 2026", "loaded", "e3", pd.Timestamp("2026-11-17 08:00"), 90, 0, 15, 0, 8, None),
        ("Net ARR", "Q4 2026", "loaded", "e2", pd.Timestamp("2026-11-16 08:00"), 90, 30, 0, 0, 9, None),
        ("Net ARR", "Q4 2026", "failed", None, None, None, None, None, None, None, FAILURE),
        ("Net ARR", "Q4 2026", "loaded", "e1", pd.Timestamp(E1_AT), 60, 60, 0, 0, 0, None),
        ("Net ARR", "Q3 2026", "loaded", "q3", pd.Timestamp("2026-10-05 08:00"), 90, 90, 0, 0, 0, None)]
    # Cell versions: 90 + 60 + 30 + 15 changed; current: Q3's 90 and Q4's 90. Changes: every move, counting
    # or not: E2 against E1 moves 4 numbers of each of 6 people (quota stays) = 24; E3 against E2 14
    # (Rex 2, Rob 3, Mia 2, Max 3, Cleo 4; Ria's call does not move).
    assert dict(rows(counts, "table_name", "rows")) == {
        "exports": 4, "users": 6, "fields": 5, "time_periods": 2, "time_frames": 6, "cell_versions": 195,
        "current cells": 180, "changes": 38, "runs": 5}
