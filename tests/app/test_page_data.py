"""The page data functions on a warehouse filled by demo refreshes, and the benchmark timing the
very functions the pages call."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bench.pages import page_calls
from clari_data.read import analytics, page_data
from clari_data.read.analytics import Selection
from clari_data.shared.pages import PAGES
from clari_data.storage.warehouse import Warehouse

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


def test_the_overview_compares_with_the_export_before(snapshot):
    wh, cur, sel = snapshot
    shown = page_data.overview(wh, sel, cur)
    assert shown.export is not None and shown.previous_export is not None
    assert shown.previous_export.exported_at < shown.export.exported_at
    assert shown.previous is not None and shown.previous.quota == shown.headline.quota
    assert shown.week_ago is None  # the two refreshes are a day apart
    assert "start_date" in shown.weekly.columns


def test_pacing_and_the_waterfall(snapshot):
    wh, cur, sel = snapshot
    pace = page_data.pacing(wh, sel, cur)
    assert sel.time_period in set(pace.weeks["period"]) and pace.week_number is not None
    assert set(pace.weeks["label"]) >= {analytics.period_labels(wh, cur)[sel.time_period]}
    for field in page_data.WATERFALL_FIELDS:
        fall = page_data.waterfall(wh, sel, "previous", field, cur=cur)
        assert fall.start is not None and fall.end is not None and fall.start.export_id < fall.end.export_id
        assert fall.start_total + fall.steps["change_amount"].sum() + fall.others_amount \
            == pytest.approx(fall.end_total)
        assert len(fall.steps) <= 8 and set(fall.steps["user_id"]) <= set(fall.moves["user_id"])


@pytest.mark.parametrize("page", ["overview", "accuracy", "coverage", "reps", "changes", "pacing", "waterfall"])
def test_every_page_s_data_as_of_the_first_export(snapshot, page):
    wh, cur, sel = snapshot
    first = analytics.exports_of(wh, sel.forecast_id, sel.time_period, cur)["exported_at"].min()
    then = replace(sel, as_of=first.to_pydatetime())
    [(_name, call)] = page_calls(page, wh, cur, then)
    assert call() is not None
    [(name, _call)] = page_calls(f"{page} as of", wh, cur, sel)  # the bench's as-of row of the page
    assert name == f"page_data.{page}"
