"""The demo's first start: an empty warehouse gets the simulated tenant's history (the ended
quarters, a daily export of the current quarter from its first day to today) through the normal
refresh path, and the next refresh moves the simulated clock on by a day."""

from dataclasses import replace
from datetime import timedelta

import pytest
from support import SIM_NOW, sql_value, wait_until

from clari_data.ingest import demo
from clari_data.ingest.demo import ENDED_QUARTERS
from clari_data.ingest.refresh import run_refresh
from clari_data.read import analytics, page_data
from clari_data.read.analytics import Selection
from clari_data.runtime.scheduler import RefreshService
from clari_data.shared.config import DemoSettings, ScheduleSettings
from clari_data.storage.warehouse import Warehouse


@pytest.fixture
def small_demo(demo_settings):
    """Demo mode with a small org (the history is the same shape at any size) and no schedule."""
    return replace(demo_settings, demo=replace(DemoSettings(), users=12, job_seconds=0.02),
                   schedule=replace(ScheduleSettings(), enabled=False))


@pytest.mark.slow
def test_the_backfill_loads_the_ended_quarters_and_each_day_of_this_one(small_demo):
    said = []
    with Warehouse.from_settings(small_demo) as wh:
        assert demo.needs_backfill(small_demo, wh)
        done = demo.backfill(small_demo, wh, run_refresh, lambda stage, message: said.append((stage, message)),
                             today=SIM_NOW)
        # SIM_NOW is Wednesday 18 November 2026: Q4 began on 1 October, 49 days before, so 49 + 1 days.
        assert (done.period, done.days, done.failed) == ("2026_Q4", 49, None)
        back = ("2026_Q3", "2026_Q2", "2026_Q1", "2025_Q4", "2025_Q3", "2025_Q2", "2025_Q1", "2024_Q4", "2024_Q3")
        assert ENDED_QUARTERS < len(back) and done.ended == back[:ENDED_QUARTERS]
        assert said[0] == ("loading", "Loading demo history: day 1 of 49 (Thu 01 Oct, simulated)")
        assert said[-1][0] == "done"
        assert f"49 daily exports of 2026_Q4 and {ENDED_QUARTERS} ended quarters" in said[-1][1]

        runs = sql_value(wh, "SELECT count(*) FROM runs WHERE trigger = 'backfill' AND outcome = 'success'")
        assert runs == 49
        days = sql_value(wh, "SELECT count(DISTINCT CAST(exported_at AS DATE)) FROM exports "
                             "WHERE time_period = '2026_Q4'")
        loaded_or_same = sql_value(wh, "SELECT count(*) FROM export_attempts WHERE time_period = '2026_Q4' "
                                       "AND status IN ('loaded', 'unchanged')")
        assert loaded_or_same == 49 and days >= 40  # a day on which nothing moved loads nothing new
        latest = analytics.export_at(wh, "net_arr", "2026_Q4", None)
        assert latest.exported_at == SIM_NOW.replace(tzinfo=None)  # the last day is today, at today's time
        periods = analytics.periods(wh, "net_arr")
        ended = periods[periods["has_ended"]]["time_period"].tolist()
        assert ended == ["2026_Q3", "2026_Q2", "2026_Q1", "2025_Q4", "2025_Q3", "2025_Q2"]
        assert wh.demo_clock() == SIM_NOW.replace(tzinfo=None) and not demo.needs_backfill(small_demo, wh)

        # What the pages need from a history: moves since the previous export and over the week,
        # the four quarters to pace against, and a projection with its back-test.
        sel = Selection("net_arr", "2026_Q4")
        changes = page_data.changes(wh, sel, 0, 0)
        assert changes.since_previous is not None and changes.over_week is not None
        assert not changes.over_week.moves.empty
        shown = page_data.overview(wh, sel)
        assert shown.previous is not None and shown.week_ago is not None
        assert shown.week_ago_export.exported_at <= shown.export.exported_at - timedelta(days=7)
        pacing = page_data.pacing(wh, sel)
        assert set(pacing.weeks["period"]) == {"2026_Q4", *ended[:4]} and pacing.points_vs_average is not None

        # Afterwards a refresh moves the simulated clock on by a day, as before.
        assert run_refresh(small_demo, wh).outcome == "success"
        assert wh.demo_clock() == (SIM_NOW + timedelta(days=1)).replace(tzinfo=None)


@pytest.mark.slow
def test_the_service_backfills_on_a_demo_s_first_start_only(small_demo):
    service = RefreshService(small_demo).start()
    try:
        wait_until(lambda: service.state().runs_completed == 1, timeout=120, what="the startup backfill")
        state = service.state()
        assert state.progress.stage == "done" and state.progress.message.startswith("Loaded demo history")
        wh = service.warehouse
        assert sql_value(wh, "SELECT count(*) FROM runs WHERE trigger = 'backfill'") >= 1
        assert sql_value(wh, "SELECT count(*) FROM runs WHERE trigger = 'startup'") == 0
        assert not demo.needs_backfill(small_demo, wh)
        clock = wh.demo_clock()
        assert service.request_run("manual", ignore_cooldown=True).accepted
        wait_until(lambda: service.state().runs_completed == 2, timeout=60, what="the manual refresh")
        assert wh.demo_clock() - clock == timedelta(days=1)
    finally:
        service.stop()


def test_a_real_tenant_is_never_backfilled(sim_settings):
    with Warehouse.from_settings(sim_settings) as wh:
        assert not demo.needs_backfill(sim_settings, wh)
