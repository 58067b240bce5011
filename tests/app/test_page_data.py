"""The page data functions on a warehouse filled by demo refreshes, and the benchmark timing the
very functions the pages call."""

import shutil
from pathlib import Path

import pytest

from bench.pages import page_calls
from clari_data import page_data
from clari_data.analytics import Selection
from clari_data.pages import PAGES
from clari_data.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def snapshot(demo_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, path)
    with Warehouse(path) as wh, wh.snapshot() as cur:
        options = page_data.filter_options(wh, cur=cur)
        forecast = options.forecasts[0]
        sel = Selection(forecast, page_data.filter_options(wh, forecast, cur=cur).periods[0])
        yield wh, cur, sel


def test_filter_options_reach_as_far_as_asked(snapshot):
    wh, cur, sel = snapshot
    top = page_data.filter_options(wh, cur=cur)
    assert top.forecasts and top.periods == [] and top.people is None
    full = page_data.filter_options(wh, sel.forecast_id, sel.time_period, cur=cur)
    assert full.forecasts == top.forecasts and sel.time_period in full.periods
    assert {"user_id", "user_name", "is_manager", "manager_user_id"} <= set(full.people.columns)


def test_the_headline_is_the_latest_week(snapshot):
    wh, cur, sel = snapshot
    shown = page_data.overview(wh, sel, cur)
    last = shown.weekly.iloc[-1]
    assert shown.headline.week == last["time_frame_id"] and shown.headline.quota == last["quota_amount"]


def test_accuracy_shows_an_ended_period(snapshot):
    wh, cur, sel = snapshot
    shown = page_data.accuracy(wh, sel, cur)
    assert shown is not None and not shown.members.empty
    assert set(shown.teams["user_id"]) | set(shown.reps["user_id"]) == set(shown.summary["user_id"])
    assert list(shown.by_person_week.columns)[0] == "user_name"
    assert all(c.startswith("W") for c in list(shown.by_person_week.columns)[1:])


def test_changes_apply_the_page_s_thresholds(snapshot):
    wh, cur, sel = snapshot
    every = page_data.changes(wh, sel, 0, 0, cur)
    assert every.since_previous is not None and not every.since_previous.moves.empty
    assert every.since_previous.moves["is_significant"].all()
    none = page_data.changes(wh, sel, 1000, 1e12, cur)
    assert none.since_previous is not None and none.since_previous.moves.empty
    assert none.since_previous.up.empty and none.since_previous.down.empty


def test_coverage_reps_and_data(snapshot):
    wh, cur, sel = snapshot
    coverage = page_data.coverage(wh, sel, cur)
    assert len(coverage.teams) + len(coverage.reps) == len(coverage.members) > 0
    reps = page_data.reps(wh, sel, cur)
    assert set(reps.members["user_id"]) <= set(reps.people["user_id"])
    data = page_data.data(wh, cur)
    assert not data.run_history.empty and not data.export_history.empty and not data.row_counts.empty


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_benchmark_times_the_function_the_page_calls(page):
    [(name, _call)] = page_calls(page.name, wh=None, cur=None, sel=None)
    assert name == f"page_data.{page.name}"
    assert name in (ROOT / page.script).read_text()
