"""What each page shows, as one typed value per page, and what every page run shares.

A page calls its function here through the app's cache (`ui.run.cached`), and the benchmark
(`bench/pages.py`) times these same functions, so a change to what a page fetches is measured as
it is made. Every function takes the warehouse first and a read cursor as `cur`, the form the
cache calls them in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

import duckdb
import pandas as pd

from clari_data.shared.periods import periods_ending_at
from clari_data.storage.warehouse import Warehouse

from . import analytics
from .analytics import Export, ExportPair, Headline, Level, Selection
from .asof import parse_moment
from .projection import Score, backtest_rows, score
from .projection import members as projection_members
from .projection import weeks as projection_weeks

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
    weekly: pd.DataFrame  # weekly_totals: the headline numbers per week, as of the shown export
    headline: Headline  # its latest week
    previous: Headline | None  # the headline at the export before the shown one
    week_ago: Headline | None  # ... and at the newest export at least 7 days older
    export: Export | None  # the export shown (at sel.as_of; None: nothing loaded then)
    previous_export: Export | None
    week_ago_export: Export | None


def overview(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> OverviewData:
    weekly = analytics.weekly_totals(wh, sel, cur)
    points = analytics.export_points(wh, sel, cur=cur)
    users = analytics.headline_users(wh, sel, cur) if points.previous else None

    def headline_at(export: Export | None) -> Headline | None:
        if export is None:
            return None
        return analytics.headline_at(wh, sel, export.export_id, cur, users)

    return OverviewData(weekly, analytics.headline_of(weekly), headline_at(points.previous),
                        headline_at(points.week_ago), points.shown, points.previous, points.week_ago)


PACING_QUARTERS = 4  # the earlier quarters the chosen one is paced against


@dataclass(frozen=True)
class PacingData:
    weeks: pd.DataFrame  # week_number, period, label, attainment_pct: the chosen period and earlier ones
    average: pd.DataFrame  # week_number, attainment_pct: the earlier quarters' average
    week_number: int | None  # the chosen period's latest week
    points_vs_average: float | None  # its attainment minus the average's at that week (points)


def pacing(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> PacingData:
    """Closed won / quota by week of quarter for the selection, in the chosen period and in each of
    the four quarters before it that are loaded, each as of the export shown at `sel.as_of`."""
    labels = analytics.period_labels(wh, cur)
    frames = []
    for period in periods_ending_at(sel.time_period, PACING_QUARTERS):
        weekly = analytics.weekly_totals(wh, replace(sel, time_period=period), cur)
        if weekly.empty:
            continue
        quota = weekly["quota_amount"].where(weekly["quota_amount"] != 0)
        frames.append(pd.DataFrame({
            "week_number": weekly["week_number"].astype(int), "period": period,
            "label": labels.get(period, analytics.period_label(period)),
            "attainment_pct": (100 * weekly["closed_amount"] / quota).astype(float)}))
    return pacing_figures(pd.concat(frames, ignore_index=True) if frames else _no_weeks(), sel.time_period)


def _no_weeks() -> pd.DataFrame:
    return pd.DataFrame({"week_number": pd.Series(dtype=int), "period": pd.Series(dtype=str),
                         "label": pd.Series(dtype=str), "attainment_pct": pd.Series(dtype=float)})


def pacing_figures(weeks: pd.DataFrame, period: str) -> PacingData:
    """The average of the quarters other than `period` by week, and where `period` stands against
    it at its latest week (pure: the pacing tests work these by hand)."""
    earlier = weeks[weeks["period"] != period]
    average = (earlier.groupby("week_number", as_index=False)["attainment_pct"].mean()
               if not earlier.empty else pd.DataFrame({"week_number": pd.Series(dtype=int),
                                                       "attainment_pct": pd.Series(dtype=float)}))
    chosen = weeks[weeks["period"] == period]
    if chosen.empty:
        return PacingData(weeks, average, None, None)
    last = chosen.loc[chosen["week_number"].idxmax()]
    week = int(last["week_number"])
    at_week = average.loc[average["week_number"] == week, "attainment_pct"]
    points = None
    if not at_week.empty and pd.notna(at_week.iloc[0]) and pd.notna(last["attainment_pct"]):
        points = float(last["attainment_pct"] - at_week.iloc[0])
    return PacingData(weeks, average, week, points)


@dataclass(frozen=True)
class AccuracyData:
    period: str  # the ended period shown: the selected one, else the latest ended
    members: pd.DataFrame  # accuracy_members: one row per person and week
    by_week: pd.DataFrame  # the headline rows aggregated per week
    summary: pd.DataFrame  # one row per person over the period's weeks
    by_person_week: pd.DataFrame  # user_name and one accuracy column per week (W1, W2, ...)
    level: Level | None = None  # where the selection stands; members and summary are everyone below it

    @property
    def direct(self) -> pd.DataFrame:
        return self.level.direct_rows(self.summary) if self.level else self.summary

    @property
    def teams(self) -> pd.DataFrame:
        return self.summary[self.summary["is_manager"]]

    @property
    def reps(self) -> pd.DataFrame:
        return self.summary[~self.summary["is_manager"]]


def accuracy(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> AccuracyData | None:
    """The accuracy of the selection's commit calls; None until an ended period is loaded."""
    period = analytics.accuracy_period(wh, sel, cur)
    if period is None:
        return None
    chosen = replace(sel, time_period=period)
    level = analytics.level_of(analytics.people(wh, sel.forecast_id, period, cur), sel.team, sel.reps)
    rows = _team_rows(analytics.accuracy_members(wh, _whole_level(chosen), cur), chosen, level)
    pivot = rows.pivot_table(index="user_name", columns="week_number", values="accuracy_pct", aggfunc="mean")
    pivot.columns = [f"W{c}" for c in pivot.columns]
    return AccuracyData(period, rows, analytics.accuracy_by_week(rows), analytics.accuracy_summary(rows),
                        pivot.reset_index(), level)


def _whole_level(sel: Selection) -> Selection:
    """The selection whose members hold everyone below its level: the chosen reps, else the whole
    organisation (narrowed in Python to the team's people: the members query lists one level)."""
    return sel if sel.reps else replace(sel, team=None)


def _team_rows(rows: pd.DataFrame, sel: Selection, level: Level) -> pd.DataFrame:
    """The rows of the level's manager (else the top) and everyone below it, or of the chosen reps;
    with the headline's own rows (in_headline: the chosen reps, else the team's manager, else the
    top) marked for the selection, where the members of the whole organisation mark its top."""
    if "in_headline" in rows.columns and not sel.reps:
        heads = rows["user_id"] == sel.team if sel.team else rows["manager_user_id"].isna()
        rows = rows.assign(in_headline=heads)
    return level.team_rows(rows).reset_index(drop=True)


@dataclass(frozen=True)
class CoverageData:
    members: pd.DataFrame  # coverage_members: the level's manager and everyone below (or the chosen reps)
    weekly: pd.DataFrame  # weekly_totals, for the trend
    level: Level

    @property
    def direct(self) -> pd.DataFrame:
        return self.level.direct_rows(self.members)

    @property
    def teams(self) -> pd.DataFrame:
        return self.members[self.members["is_manager"]]

    @property
    def reps(self) -> pd.DataFrame:
        return self.members[~self.members["is_manager"]]


def coverage(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> CoverageData:
    level = analytics.level_of(analytics.people(wh, sel.forecast_id, sel.time_period, cur), sel.team, sel.reps)
    members = _team_rows(analytics.coverage_members(wh, _whole_level(sel), cur), sel, level)
    return CoverageData(members, analytics.weekly_totals(wh, sel, cur), level)


@dataclass(frozen=True)
class RepsData:
    members: pd.DataFrame  # performance_members: the leaderboard of the level's manager and everyone below
    people: pd.DataFrame  # everyone of the period, for names and the way up the hierarchy
    level: Level

    @property
    def direct(self) -> pd.DataFrame:
        return self.level.direct_rows(self.members)


def reps(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> RepsData:
    people = analytics.people(wh, sel.forecast_id, sel.time_period, cur)
    level = analytics.level_of(people, sel.team, sel.reps)
    return RepsData(_team_rows(analytics.performance_members(wh, _whole_level(sel), cur), sel, level), people, level)


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


WATERFALL_STARTS = ("previous", "week", "quarter")
WATERFALL_FIELDS = ("commit", "best_case", "pipeline", "closed")


@dataclass(frozen=True)
class WaterfallData:
    start: Export | None  # the start point's export (None: no export before the end)
    end: Export | None  # the export shown (at sel.as_of)
    start_total: float | None  # the headline's amount of the field at the start
    steps: pd.DataFrame  # user_id, user_name, change_amount: the n biggest moves by |amount|
    others_amount: float  # everything else: start_total + sum(steps) + others_amount = end_total
    end_total: float | None
    moves: pd.DataFrame  # every person's move: user_id, user_name, is_manager, start_amount, end_amount, change_amount


def waterfall(wh: Warehouse, sel: Selection, start: str = "week", field: str = "commit", n: int = 8,
              cur: Cursor | None = None) -> WaterfallData:
    """How the headline's `field` went from a start point to the export shown, person by person:
    the chosen reps, else the reps under the chosen team, else the managers reporting to the top.

    `start`: `previous` (the export before the shown one), `week` (the first export taken since
    Monday 00:00 UTC of the shown export's week; the one before it when that is the shown export
    itself), `quarter` (the period's first export), or an ISO date (the export in force at the end
    of that day, UTC) or date-time (UTC)."""
    if field not in WATERFALL_FIELDS:
        raise ValueError(f"field must be one of {', '.join(WATERFALL_FIELDS)}, not {field!r}")
    exports = analytics.exports_of(wh, sel.forecast_id, sel.time_period, cur)
    end = analytics.export_at(wh, sel.forecast_id, sel.time_period, sel.as_of, cur)
    begin = waterfall_start(exports, end, start)
    people = analytics.people(wh, sel.forecast_id, sel.time_period, cur)
    headline, persons = waterfall_people(people, sel)
    column = f"{field}_amount"

    def amounts(export: Export | None) -> pd.Series:
        if export is None:
            return pd.Series(dtype=float)
        latest = export.export_id == int(exports["export_id"].max())
        rows = analytics.role_amounts(wh, sel, None if latest else export.export_id, sorted(headline | persons), cur)
        return rows.set_index("user_id")[column].astype(float)

    at_end = amounts(end)
    at_start = amounts(begin) if begin is not None and end is not None else pd.Series(dtype=float)
    return waterfall_figures(people, headline, persons, at_start if begin is not None else None,
                             at_end if end is not None else None, begin, end, n)


def waterfall_start(exports: pd.DataFrame, end: Export | None, start: str) -> Export | None:
    """The export a waterfall starts from (`exports`: analytics.exports_of, newest first)."""
    if end is None:
        return None
    before = exports[exports["export_id"] < end.export_id]  # newest first
    if start == "previous":
        chosen = before.head(1)
    elif start == "quarter":
        chosen = before.tail(1)
    elif start == "week":
        monday = datetime.combine(end.exported_at.date() - timedelta(days=end.exported_at.weekday()), time())
        this_week = before[before["exported_at"] >= monday]
        chosen = this_week.tail(1) if not this_week.empty else before.head(1)
    else:
        chosen = before[before["exported_at"] <= parse_start(start)].head(1)
    if chosen.empty:
        return None
    row = chosen.iloc[0]
    return Export(int(row["export_id"]), pd.Timestamp(row["exported_at"]).to_pydatetime())


def parse_start(text: str) -> datetime:
    """A waterfall's start as an instant (naive UTC), read as `as_of` is: a date is its end."""
    parsed = parse_moment(text)
    if parsed is None:
        raise ValueError(f"from must be an ISO date, a date-time or one of {', '.join(WATERFALL_STARTS)}, "
                         f"not {text!r}")
    return parsed[0]


def waterfall_people(people: pd.DataFrame, sel: Selection) -> tuple[set[str], set[str]]:
    """Who the headline sums (in_headline) and whose moves are the steps: the chosen reps; else
    the reps (non-managers) anywhere under the chosen team; else the managers reporting to the top."""
    if sel.reps:
        return set(sel.reps), set(sel.reps)
    if sel.team:
        below = analytics.team_members(people, sel.team)
        reps = set(people[people["user_id"].isin(below) & ~people["is_manager"].astype(bool)]["user_id"])
        return {sel.team}, reps
    top = set(people[people["manager_user_id"].isna()]["user_id"])
    managers = people["manager_user_id"].isin(top) & people["is_manager"].astype(bool)
    return top, set(people[managers]["user_id"])


def waterfall_figures(people: pd.DataFrame, headline: set[str], persons: set[str], at_start: pd.Series | None,
                      at_end: pd.Series | None, start: Export | None, end: Export | None, n: int) -> WaterfallData:
    """The totals, the n biggest moves and everyone else from each person's amount at the start and
    the end (pure: the waterfall tests work these by hand). A person missing at one end counts as 0."""
    def total(amounts: pd.Series | None) -> float | None:
        if amounts is None:
            return None
        there = amounts[amounts.index.isin(headline)].dropna()
        return float(there.sum()) if not there.empty else None

    start_total, end_total = total(at_start), total(at_end)
    names = people.set_index("user_id")
    ids = sorted(persons)
    if at_start is None or at_end is None:
        ids = []
    before = (at_start if at_start is not None else pd.Series(dtype=float)).reindex(ids)
    after = (at_end if at_end is not None else pd.Series(dtype=float)).reindex(ids)
    moves = pd.DataFrame({
        "user_id": ids,
        "user_name": [names["user_name"].get(u, u) if u in names.index else u for u in ids],
        "is_manager": [bool(names["is_manager"].get(u, False)) if u in names.index else False for u in ids],
        "start_amount": before.to_numpy(dtype=float),
        "end_amount": after.to_numpy(dtype=float),
    })
    moves["change_amount"] = moves["end_amount"].fillna(0) - moves["start_amount"].fillna(0)
    moves = (moves.assign(size=moves["change_amount"].abs()).sort_values(["size", "user_name"], ascending=[False, True])
             .drop(columns="size").reset_index(drop=True))
    steps = moves[moves["change_amount"] != 0].head(n)[["user_id", "user_name", "change_amount"]].reset_index(drop=True)
    others = 0.0
    if start_total is not None or end_total is not None:
        others = (end_total or 0.0) - (start_total or 0.0) - float(steps["change_amount"].sum())
    return WaterfallData(start, end, start_total, steps, others, end_total, moves)


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


# -- projection ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectionData:
    weeks: pd.DataFrame  # the headline week by week: call, closed won, quota, P10 / P50 / P90
    members: pd.DataFrame  # each member of the selection at the week shown (projection_members)
    backtest: pd.DataFrame  # projection_backtest of the quarters that began before the chosen one
    week_number: int | None  # the week of the quarter shown
    at_week: Score  # the back-test at that week of the quarter
    overall: Score  # ... and over every week


def projection(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> ProjectionData:
    """Where the selection will likely land (P10 / P50 / P90 from each person's own past calls),
    as of the export shown at `sel.as_of`, and how that projection did on earlier quarters."""
    weekly = projection_weeks(wh, sel, cur)
    people = projection_members(wh, sel, cur)
    rows = backtest_rows(wh, sel.forecast_id, cur)
    periods = analytics.periods(wh, sel.forecast_id, cur)
    start = periods.loc[periods["time_period"] == sel.time_period, "start_date"]
    if not start.empty and pd.notna(start.iloc[0]):
        rows = rows[pd.to_datetime(rows["period_start"]) < pd.Timestamp(start.iloc[0])].reset_index(drop=True)
    week = int(people["week_number"].max()) if not people.empty else \
        int(weekly["week_number"].max()) if not weekly.empty else None
    return ProjectionData(weekly, people, rows, week, score(rows[rows["week_number"] == week]), score(rows))
