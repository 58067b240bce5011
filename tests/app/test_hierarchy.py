"""Pages for a 2,000-person org (issue 17): hierarchy first, at most 25 people per chart, at most a
screenful of shortcuts, and a search that reaches anyone; through AppTest on a demo tenant of
2,000 users filled by two refreshes a simulated day apart."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from apptest_helpers import run, url

from clari_data.read import analytics, charts, page_data
from clari_data.read.analytics import Selection
from clari_data.runtime.scheduler import process_service
from clari_data.shared.config import load_settings
from ui.page import SHORTCUTS

BIG = "users = 2000\n"  # under the [demo] table write_config opens
PAGES = ("coverage", "reps", "accuracy", "changes", "overview")
NAVIGATED = ("coverage", "reps", "accuracy")  # the pages with the breadcrumb, shortcuts and search


@pytest.fixture
def big_app(make_app, demo_warehouse):
    db = demo_warehouse(BIG)
    return lambda: make_app(BIG, db=db)


def _points(values) -> int:
    """How many values a trace's x or y carries, plain or in Plotly's typed-array form."""
    if values is None:
        return 0
    if isinstance(values, dict) and "bdata" in values:
        return len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
    return len(values)


def figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def people_of(at) -> pd.DataFrame:
    wh = process_service(load_settings()).warehouse
    forecast = at.selectbox(key="forecast").value
    return analytics.people(wh, forecast, at.selectbox(key="period").value)


def name_of(people: pd.DataFrame, uid: str) -> str:
    return people.loc[people["user_id"] == uid, "user_name"].iloc[0]


@pytest.mark.parametrize("page", PAGES)
def test_no_chart_carries_more_than_25_people_and_shortcuts_fit_a_screen(big_app, page):
    at = run(big_app(), f"views/{page}.py")
    assert len(people_of(at)) == 2000
    for fig in figures(at):
        for trace in fig["data"]:
            assert max(_points(trace.get("x")), _points(trace.get("y"))) <= charts.MAX_PEOPLE, \
                (fig["layout"].get("title"), trace["type"])
    shortcuts = [b for b in at.button if str(b.key).startswith(f"{page}-down-")]
    assert len(shortcuts) <= SHORTCUTS
    assert len(at.button) <= SHORTCUTS + 4  # the breadcrumb's way up and the page's own buttons
    if page in NAVIGATED:
        assert len(at.selectbox(key=f"{page}-search").options) == 1999  # anyone below the top


@pytest.mark.parametrize("page", NAVIGATED)
def test_the_top_shows_its_direct_reports_and_says_what_the_charts_mean(big_app, page):
    at = run(big_app(), f"views/{page}.py")
    people = people_of(at)
    [top] = analytics.top_of(people)
    rvps = set(people.loc[people["manager_user_id"] == top, "user_id"])
    assert all(b.key.removeprefix(f"{page}-down-") in rvps for b in at.button if b.key.startswith(f"{page}-down-"))
    said = " ".join(c.value for c in at.caption).lower()
    assert "direct reports" in said or "reporting to" in said
    assert "everyone below" in said and "1,999 people" in said
    if page != "accuracy":  # its chart is the weekly aggregate
        bars = figures(at)[0]
        assert "by direct report" in bars["layout"]["title"]["text"]


def shortcuts(at, page: str) -> list[str]:
    """The sub-teams of a page's shortcuts as a viewer reads them, row by row across the columns
    (AppTest lists a column's buttons before the next column's)."""
    columns = [[b.key.removeprefix(f"{page}-down-") for b in column.button if b.key.startswith(f"{page}-down-")]
               for column in at.columns]
    columns = [c for c in columns if c]
    return [c[row] for row in range(max(map(len, columns), default=0)) for c in columns if row < len(c)]


# What each page counts as worst among its direct reports: the lowest of this column first.
WORST_BY = {"coverage": (page_data.coverage, "coverage_ratio"), "reps": (page_data.reps, "attainment_pct"),
            "accuracy": (page_data.accuracy, "mean_accuracy_pct")}


@pytest.mark.parametrize("page", NAVIGATED)
def test_the_shortcuts_are_the_sub_teams_needing_most_attention_worst_first(big_app, page):
    at = run(big_app(), f"views/{page}.py")
    for level in ("the top", "its worst sub-team, with more sub-teams than shortcuts"):
        if level != "the top":
            at.button(key=f"{page}-down-{shortcuts(at, page)[0]}").click().run()
        [team] = url(at).get("team", [None])
        load, column = WORST_BY[page]
        sel = Selection(at.selectbox(key="forecast").value, at.selectbox(key="period").value, team)
        direct = load(process_service(load_settings()).warehouse, sel).direct
        values = dict(zip(direct["user_id"], direct[column]))
        managers = set(people_of(at).query("is_manager")["user_id"])
        sub_teams = direct[direct["user_id"].isin(managers)].sort_values(column, na_position="last")["user_id"]
        shown = shortcuts(at, page)
        assert shown == sub_teams.tolist()[:SHORTCUTS], (level, [values.get(u) for u in shown])
        assert len({values[u] for u in shown}) > 1  # an order to get wrong
        assert level == "the top" or len(sub_teams) > SHORTCUTS  # and a choice of which to show


def test_drilling_down_by_shortcut_and_search_then_back_up_by_the_breadcrumb(big_app):
    at = run(big_app(), "views/reps.py")
    people = people_of(at)
    [top] = analytics.top_of(people)
    first = next(b for b in at.button if b.key.startswith("reps-down-"))
    rvp = first.key.removeprefix("reps-down-")
    first.click().run()
    assert url(at) == {"team": [rvp]}
    managers = set(people.loc[people["manager_user_id"] == rvp, "user_id"])
    shortcuts = [b.key.removeprefix("reps-down-") for b in at.button if b.key.startswith("reps-down-")]
    assert shortcuts and set(shortcuts) <= managers
    bars = figures(at)[0]
    assert "by direct report" in bars["layout"]["title"]["text"]

    manager = shortcuts[0]
    at.button(key=f"reps-down-{manager}").click().run()
    assert url(at) == {"team": [manager]}
    rep = people.loc[(people["manager_user_id"] == manager) & ~people["is_manager"], "user_id"].iloc[0]
    at.selectbox(key="reps-search").set_value(rep).run()
    assert url(at) == {"team": [manager], "rep": [rep]}
    crumbs = [m.value for m in at.markdown if m.value.startswith("**")]
    assert any(name_of(people, rep) in c.replace("\\", "") for c in crumbs)

    # Back up: the breadcrumb's steps are the top, the RVP and the manager.
    ups = {b.key: b.label for b in at.button if b.key.startswith("reps-up-")}
    assert len(ups) == 3 and name_of(people, top) in ups["reps-up-0"].replace("\\", "")
    at.button(key="reps-up-1").click().run()
    assert url(at) == {"team": [rvp]}
    at.button(key="reps-up-0").click().run()
    assert url(at) == {}


def test_the_search_reaches_any_manager_among_thousands(big_app):
    at = run(big_app(), "views/coverage.py")
    people = people_of(at)
    deep = people[people["is_manager"] & people["manager_user_id"].notna()].iloc[-1]["user_id"]
    at.selectbox(key="coverage-search").set_value(deep).run()
    assert url(at) == {"team": [deep]}
    below = analytics.team_members(people, deep)
    table_rows = [c for c in at.caption if "everyone below" in c.value]
    assert table_rows and f"{len(below):,} people" in table_rows[0].value


def test_a_link_opens_at_its_level(big_app):
    first = run(big_app(), "views/coverage.py")
    people = people_of(first)
    [top] = analytics.top_of(people)
    manager = people[people["is_manager"] & people["manager_user_id"].notna()
                     & (people["manager_user_id"] != top)].iloc[-1]  # a first-line manager
    at = run(big_app(), "views/coverage.py", team=manager["user_id"])
    ups = [b for b in at.button if b.key.startswith("coverage-up-")]
    assert len(ups) == 2  # the top and the RVP above the manager
    assert any(name_of(people, manager["user_id"]) in m.value.replace("\\", "") for m in at.markdown
               if m.value.startswith("**"))


# -- the hierarchy's pure functions ------------------------------------------------------------


def org() -> pd.DataFrame:
    rows = [("cro", None, True), ("rvp1", "cro", True), ("rvp2", "cro", True), ("m1", "rvp1", True),
            ("r1", "m1", False), ("r2", "m1", False), ("r3", "rvp2", False)]
    return pd.DataFrame({"user_id": [r[0] for r in rows], "user_name": [r[0].upper() for r in rows],
                         "manager_user_id": [r[1] for r in rows], "is_manager": [r[2] for r in rows],
                         "hierarchy_name": ["" for _ in rows]})


def test_levels_of_the_hierarchy():
    people = org()
    assert analytics.top_of(people) == ["cro"]
    assert analytics.direct_reports(people, None) == ["rvp1", "rvp2"]
    assert analytics.direct_reports(people, "rvp1") == ["m1"]
    assert analytics.everyone_below(people, None) == {"rvp1", "rvp2", "m1", "r1", "r2", "r3"}
    assert analytics.everyone_below(people, "rvp1") == {"m1", "r1", "r2"}
    assert analytics.hierarchy_path(people, "m1") == [("cro", "CRO"), ("rvp1", "RVP1"), ("m1", "M1")]
    assert analytics.hierarchy_path(people, None) == [("cro", "CRO")]
    chosen = analytics.level_of(people, "m1", ("r2",))
    assert chosen.direct == ["r2"] and chosen.below == {"r2"}


def test_a_reporting_loop_ends_the_path():
    people = org()
    people.loc[people["user_id"] == "cro", "manager_user_id"] = "r1"
    assert [uid for uid, _ in analytics.hierarchy_path(people, "m1")][-1] == "m1"
    assert len(analytics.hierarchy_path(people, "m1")) <= len(people)


def test_bounded_charts_say_how_many_more():
    many = charts.MAX_PEOPLE + 15
    rows = pd.DataFrame({"user_name": [f"P{i}" for i in range(many)], "coverage_ratio": np.linspace(0.1, 5, many)})
    fig = charts.coverage_by_person(rows, 3.0, "Coverage by direct report")
    assert charts.people_drawn(fig) == charts.MAX_PEOPLE
    assert f"lowest {charts.MAX_PEOPLE} of {many}, and 15 more in the table" in fig.layout.title.text
    assert list(fig.data[0].y)[0] == "P0"  # the lowest first


def test_the_distribution_bins_everyone_and_marks_the_target():
    values = pd.Series([0.5] * 10 + [2.9, 3.1] + [40.0] * 3)
    fig = charts.distribution(values, 3.0, title="Coverage", axis="x", unit="x", bin_width=0.25, cap=6.0)
    counts = list(fig.data[0].y)
    assert sum(counts) == 15 and len(counts) == 24 and counts[-1] == 3  # 40x lands in "6x or more"
    assert "11 of 15 below" in fig.layout.annotations[0].text
