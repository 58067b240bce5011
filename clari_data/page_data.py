"""What each page shows, as one typed value per page, and what every page run shares.

A page calls its function here through the app's cache (`ui.run.cached`), and the benchmark
(`bench/pages.py`) times these same functions, so a change to what a page fetches is measured as
it is made. Every function takes the warehouse first and a read cursor as `cur`, the form the
cache calls them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from . import alerts, analytics
from .analytics import ExportPair, Headline, Selection
from .warehouse import Warehouse

Cursor = duckdb.DuckDBPyConnection


# -- every run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    """The choices of the sidebar filters, as far down as the arguments reach."""

    forecasts: list[str]
    periods: list[str]  # of the forecast asked for, newest first; empty without one
    people: pd.DataFrame | None  # of its period: user_id, user_name, is_manager, manager_user_id, hierarchy_name


def filter_options(wh: Warehouse, forecast_id: str | None = None, time_period: str | None = None,
                   cur: Cursor | None = None) -> FilterOptions:
    periods = analytics.periods(wh, forecast_id, cur)["time_period"].tolist() if forecast_id else []
    people = analytics.people(wh, forecast_id, time_period, cur) if forecast_id and time_period else None
    return FilterOptions(analytics.forecasts(wh, cur), periods, people)


# The other calls of every run are `analytics.data_status` (it gives the data version, so it is
# never cached), `alerts.operational_alerts` (it depends on the clock) and `alerts.data_alerts`
# (the threshold rules on the selection, behind the banners).


# -- the pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewData:
    weekly: pd.DataFrame  # weekly_totals: the headline numbers per week
    headline: Headline  # its latest week


def overview(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> OverviewData:
    weekly = analytics.weekly_totals(wh, sel, cur)
    return OverviewData(weekly, analytics.headline_of(weekly))


@dataclass(frozen=True)
class AccuracyData:
    period: str  # the ended period shown: the selected one, else the latest ended
    members: pd.DataFrame  # accuracy_members: one row per person and week
    by_week: pd.DataFrame  # the headline rows aggregated per week
    summary: pd.DataFrame  # one row per person over the period's weeks
    by_person_week: pd.DataFrame  # user_name and one accuracy column per week (W1, W2, ...)

    @property
    def teams(self) -> pd.DataFrame:
        return self.summary[self.summary["is_manager"]]

    @property
    def reps(self) -> pd.DataFrame:
        return self.summary[~self.summary["is_manager"]]


def accuracy(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> AccuracyData | None:
    """The accuracy of the selection's commit calls; None until an ended period is loaded."""
    period = alerts.accuracy_period(wh, sel, cur)
    if period is None:
        return None
    rows = analytics.accuracy_members(wh, Selection(sel.forecast_id, period, sel.team, sel.reps), cur)
    pivot = rows.pivot_table(index="user_name", columns="week_number", values="accuracy_pct", aggfunc="mean")
    pivot.columns = [f"W{c}" for c in pivot.columns]
    return AccuracyData(period, rows, analytics.accuracy_by_week(rows), analytics.accuracy_summary(rows),
                        pivot.reset_index())


@dataclass(frozen=True)
class CoverageData:
    members: pd.DataFrame  # coverage_members: each person of the selection
    weekly: pd.DataFrame  # weekly_totals, for the trend

    @property
    def teams(self) -> pd.DataFrame:
        return self.members[self.members["is_manager"]]

    @property
    def reps(self) -> pd.DataFrame:
        return self.members[~self.members["is_manager"]]


def coverage(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> CoverageData:
    return CoverageData(analytics.coverage_members(wh, sel, cur), analytics.weekly_totals(wh, sel, cur))


@dataclass(frozen=True)
class RepsData:
    members: pd.DataFrame  # performance_members: the leaderboard, managers included
    people: pd.DataFrame  # everyone of the period, for names and the way up the hierarchy


def reps(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> RepsData:
    return RepsData(analytics.performance_members(wh, sel, cur),
                    analytics.people(wh, sel.forecast_id, sel.time_period, cur))


@dataclass(frozen=True)
class Moves:
    moves: pd.DataFrame  # the significant moves of the window
    up: pd.DataFrame  # the largest of them up
    down: pd.DataFrame  # and down


@dataclass(frozen=True)
class ChangesData:
    pair: ExportPair
    since_previous: Moves | None  # None with only one export so far
    over_week: Moves | None


def changes(wh: Warehouse, sel: Selection, change_pct: float, change_min_amount: float,
            cur: Cursor | None = None) -> ChangesData:
    """The moves at or above both thresholds since the previous export and over the last week."""
    pair = analytics.export_pair(wh, sel, cur=cur)

    def window(start: int | None) -> Moves | None:
        if start is None or start == pair.latest:
            return None
        every = analytics.moves_between(wh, sel, start, pair.latest, change_pct=change_pct,
                                        change_min_amount=change_min_amount, cur=cur)
        moves = analytics.significant_moves(every)
        return Moves(moves, *analytics.biggest_movers(moves))

    return ChangesData(pair, window(pair.previous), window(pair.week_ago))


@dataclass(frozen=True)
class DataPageData:
    run_history: pd.DataFrame
    export_history: pd.DataFrame
    row_counts: pd.DataFrame


def data(wh: Warehouse, cur: Cursor | None = None) -> DataPageData:
    """The Data & refresh page's tables. Not for the per-version cache: a run that loads nothing
    (failed, unchanged) changes the histories without changing the data version."""
    return DataPageData(analytics.run_history(wh, cur=cur), analytics.export_history(wh, cur=cur),
                        analytics.row_counts(wh, cur=cur))
