"""What the pages show, as data: query wrappers over the warehouse views plus the pure arithmetic
on their results (ratios of sums), so pages hold no SQL and tests can check every number. The
thresholds (the change rule, coverage, the rep status cut-offs) are applied in SQL only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from clari_data.storage.warehouse import Cursor, Warehouse


@dataclass(frozen=True)
class Selection:
    """The filters of a view: one forecast and period, optionally a team (its manager's user id)
    and several reps, and the moment shown (`as_of`, naive UTC; None: the latest data)."""

    forecast_id: str
    time_period: str
    team: str | None = None
    reps: tuple[str, ...] = ()
    as_of: datetime | None = None

    def params(self) -> dict[str, Any]:
        """The filters as the queries bind them (`as_of` is resolved to an export first: `shown_params`)."""
        return {"forecast_id": self.forecast_id, "time_period": self.time_period,
                "team": self.team, "reps": list(self.reps)}


@dataclass(frozen=True)
class Export:
    """One loaded export of a forecast and period, and when Clari took it (naive UTC)."""

    export_id: int
    exported_at: datetime


@dataclass(frozen=True)
class Headline:
    """The latest week of the weekly totals; open pipeline, remaining quota and coverage come from SQL."""

    users: int
    quota: float | None
    closed: float | None
    commit: float | None
    best_case: float | None
    pipeline: float | None
    week: str | None
    open_pipeline: float | None = None
    remaining_quota: float | None = None
    coverage: float | None = None

    @property
    def attainment_pct(self) -> float | None:
        return pct(self.closed, self.quota)


def pct(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return 100.0 * part / whole


# -- filters ---------------------------------------------------------------------------------


def forecasts(wh: Warehouse, cur: Cursor | None = None) -> list[str]:
    return wh.query("filter_forecasts", cur)["forecast_id"].tolist()


def periods(wh: Warehouse, forecast_id: str, cur=None, as_of: datetime | None = None) -> pd.DataFrame:
    """The forecast's periods with data at `as_of` (None: now), newest first, and whether each had ended."""
    return wh.query("filter_periods", cur, forecast_id=forecast_id, as_of=as_of)


def people(wh: Warehouse, forecast_id: str, time_period: str, cur=None) -> pd.DataFrame:
    return wh.query("filter_people", cur, forecast_id=forecast_id, time_period=time_period)


def team_members(people: pd.DataFrame, manager_user_id: str) -> set[str]:
    """Everyone below a manager in the hierarchy (reports, their reports, ...), not the manager."""
    children: dict[str, list[str]] = {}
    for uid, boss in zip(people["user_id"], people["manager_user_id"]):
        if isinstance(boss, str):
            children.setdefault(boss, []).append(uid)
    found: set[str] = set()
    todo = list(children.get(manager_user_id, []))
    while todo:
        uid = todo.pop()
        if uid not in found and uid != manager_user_id:  # a reporting loop must not add the manager
            found.add(uid)
            todo.extend(children.get(uid, []))
    return found


@dataclass(frozen=True)
class Level:
    """Where a selection stands in the hierarchy: the manager shown (None: the top), the way down
    to them, their direct reports and everyone below them. With reps chosen, the reps are both
    the direct reports and everyone below."""

    team: str | None
    path: list[tuple[str, str]]  # (user_id, name) from the top down to the manager shown
    direct: list[str]  # direct reports (sub-teams' managers and reps), in the people's order
    below: set[str]  # everyone below, at every level
    head: list[str] = field(default_factory=list)  # whose roll-up the level is: the manager, else the top

    def direct_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        return rows[rows["user_id"].isin(self.direct)]

    def below_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        return rows[rows["user_id"].isin(self.below)]

    def team_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The level's own rows (its manager, else the top) and everyone below."""
        return rows[rows["user_id"].isin(self.below) | rows["user_id"].isin(self.head)]


def top_of(people: pd.DataFrame) -> list[str]:
    """The people at the top of the hierarchy: no manager, or one outside the data."""
    known = set(people["user_id"])
    return [uid for uid, boss in zip(people["user_id"], people["manager_user_id"])
            if not isinstance(boss, str) or boss not in known]


def direct_reports(people: pd.DataFrame, manager_user_id: str | None) -> list[str]:
    """Who reports to a manager directly; with None, who reports to the top of the hierarchy (and
    the top itself when nobody does)."""
    if manager_user_id is None:
        top = set(top_of(people))
        below = [uid for uid, boss in zip(people["user_id"], people["manager_user_id"]) if boss in top]
        return below or sorted(top)
    return [uid for uid, boss in zip(people["user_id"], people["manager_user_id"])
            if boss == manager_user_id and uid != manager_user_id]


def everyone_below(people: pd.DataFrame, manager_user_id: str | None) -> set[str]:
    """Everyone below a manager, at every level; with None, everyone below the top."""
    if manager_user_id is not None:
        return team_members(people, manager_user_id)
    top = set(top_of(people))
    return set(people["user_id"]) - top or top


def hierarchy_path(people: pd.DataFrame, user_id: str | None) -> list[tuple[str, str]]:
    """(user_id, name) from the top of the hierarchy down to `user_id` (None: the top alone)."""
    names = dict(zip(people["user_id"], people["user_name"].fillna("(unnamed)")))
    bosses = dict(zip(people["user_id"], people["manager_user_id"]))
    if user_id is None:
        top = top_of(people)
        return [(top[0], names[top[0]])] if len(top) == 1 else []
    path: list[tuple[str, str]] = []
    seen: set[str] = set()
    current: str | None = user_id
    while isinstance(current, str) and current in names and current not in seen:  # a reporting loop ends it
        seen.add(current)
        path.append((current, names[current]))
        current = bosses.get(current)
    return path[::-1]


def level_of(people: pd.DataFrame, team: str | None, reps: tuple[str, ...] = ()) -> Level:
    """The hierarchy level a selection shows (see `Level`)."""
    if reps:
        return Level(team, hierarchy_path(people, team), list(reps), set(reps))
    head = [team] if team is not None else top_of(people)
    return Level(team, hierarchy_path(people, team), direct_reports(people, team), everyone_below(people, team),
                 head)


# -- exports and labels ----------------------------------------------------------------------


def exports_of(wh: Warehouse, forecast_id: str, time_period: str, cur=None) -> pd.DataFrame:
    """Every export of a forecast and period: export_id, exported_at, newest first."""
    return wh.query("exports_of", cur, forecast_id=forecast_id, time_period=time_period)


def first_export_at(wh: Warehouse, cur=None) -> datetime | None:
    """When the first export of any forecast and period was taken (None: nothing loaded)."""
    return wh.query_row("export_span", cur)["first_exported_at"]


def latest_export_at(wh: Warehouse, cur=None) -> datetime | None:
    """When the newest export of any forecast and period was taken (None: nothing loaded)."""
    return wh.query_row("export_span", cur)["latest_exported_at"]


def export_at(wh: Warehouse, forecast_id: str, time_period: str, as_of: datetime | None,
              cur=None) -> Export | None:
    """The export a forecast and period show at `as_of`: the newest taken at or before it (the
    latest when `as_of` is None); None when there was none yet."""
    row = _export_row(wh, forecast_id, time_period, as_of, cur)
    return Export(row["export_id"], row["exported_at"]) if row else None


def _export_row(wh: Warehouse, forecast_id: str, time_period: str, as_of: datetime | None, cur) -> dict | None:
    row = wh.query_row("export_at", cur, forecast_id=forecast_id, time_period=time_period, as_of=as_of)
    return row if row["export_id"] is not None else None


# No export can have id 0: as of a moment before a period's first export, its queries find nothing.
NO_EXPORT = 0


def shown_export_id(wh: Warehouse, sel: Selection, cur=None) -> int | None:
    """The export id the selection's queries bind as `$export_id`: None for the latest data (read
    from the current tables, the fast path), else the export in force at `sel.as_of`."""
    if sel.as_of is None:
        return None
    row = _export_row(wh, sel.forecast_id, sel.time_period, sel.as_of, cur)
    if row is None:
        return NO_EXPORT
    return None if row["is_latest"] else row["export_id"]


def export_params(wh: Warehouse, forecast_id: str, time_period: str, export_id: int | None,
                  cur=None) -> dict[str, Any]:
    """`$export_id` and `$week`, the latest week that export carried, which the queries bind so
    that DuckDB reads a past export's week alone (None for both: the latest data)."""
    if export_id is None:
        return {"export_id": None, "week": None}
    week = wh.query_row("latest_week", cur, forecast_id=forecast_id, time_period=time_period,
                        export_id=export_id)["time_frame_id"]
    return {"export_id": export_id, "week": week}


def shown_params(wh: Warehouse, sel: Selection, cur=None) -> dict[str, Any]:
    """The selection's query parameters with the export shown at `sel.as_of` (`export_params`)."""
    return {**sel.params(), **export_params(wh, sel.forecast_id, sel.time_period, shown_export_id(wh, sel, cur), cur)}


def headline_users(wh: Warehouse, sel: Selection, cur=None) -> list[str]:
    """Who the selection's headline sums (in_headline)."""
    return wh.query_row("headline_users", cur, team=sel.team, reps=list(sel.reps))["users"]


def _weekly_params(wh: Warehouse, sel: Selection, export: dict[str, Any], cur,
                   users: list[str] | None = None) -> dict[str, Any]:
    """weekly_totals' parameters: a past export is read for the headline's users alone."""
    if export["export_id"] is not None and users is None:
        users = headline_users(wh, sel, cur)
    return {**sel.params(), **export, "users": users}


_PERIOD_ID = re.compile(r"^(\d{4})_Q(\d)$")


def period_label(period_id: str, label: str | None = None, year: str | int | None = None) -> str:
    """How Clari names a period ("Q4 2026"), from its label and year, else from the id's form."""
    if label:
        text = str(label).strip()
        year_text = str(year).strip() if year is not None else ""
        return f"{text} {year_text}" if year_text and year_text not in text else text
    match = _PERIOD_ID.match(period_id)
    return f"Q{match.group(2)} {match.group(1)}" if match else period_id.replace("_", " ")


def period_labels(wh: Warehouse, cur=None) -> dict[str, str]:
    """Every loaded period's display name by id: "2026_Q4" -> "Q4 2026"."""
    rows = wh.query("period_labels", cur)
    return {r.time_period_id: period_label(r.time_period_id, None if pd.isna(r.label) else r.label,
                                           None if pd.isna(r.year) else r.year)
            for r in rows.itertuples()}


# -- numbers ---------------------------------------------------------------------------------


def headline_of(weekly: pd.DataFrame) -> Headline:
    """The headline numbers: the latest week of the weekly totals."""
    if weekly.empty:
        return Headline(0, None, None, None, None, None, None)
    last = weekly.iloc[-1]
    amount = lambda column: None if pd.isna(last[column]) else float(last[column])  # noqa: E731
    return Headline(int(last["users"]), amount("quota_amount"), amount("closed_amount"), amount("commit_amount"),
                    amount("best_case_amount"), amount("pipeline_amount"), last["time_frame_id"],
                    amount("open_pipeline_amount"), amount("remaining_quota_amount"), amount("coverage_ratio"))


def weekly_totals(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    """The headline numbers per week (with each week's `start_date`), open pipeline, remaining
    quota and coverage, as the export shown at `sel.as_of` had them."""
    export = export_params(wh, sel.forecast_id, sel.time_period, shown_export_id(wh, sel, cur), cur)
    return wh.query("weekly_totals", cur, **_weekly_params(wh, sel, export, cur), latest_week_only=False)


def headline_at(wh: Warehouse, sel: Selection, export_id: int, cur=None, users: list[str] | None = None) -> Headline:
    """The headline as a given export of the selection's forecast and period had it (`users`:
    `headline_users` of the selection, if known already)."""
    export = export_params(wh, sel.forecast_id, sel.time_period, export_id, cur)
    params = _weekly_params(wh, sel, export, cur, users)
    return headline_of(wh.query("weekly_totals", cur, **params, latest_week_only=True))


def coverage_members(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    return wh.query("coverage_members", cur, **shown_params(wh, sel, cur))


def performance_members(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    return wh.query("performance_members", cur, **shown_params(wh, sel, cur))


def accuracy_members(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    return wh.query("accuracy_members", cur, **shown_params(wh, sel, cur))


def role_amounts(wh: Warehouse, sel: Selection, export_id: int | None, users: list[str],
                 cur=None) -> pd.DataFrame:
    """Some users' role amounts (commit, best case, pipeline, closed) in the latest week of an
    export (None: the latest)."""
    return wh.query("role_amounts", cur, forecast_id=sel.forecast_id, time_period=sel.time_period,
                    users=list(users), **export_params(wh, sel.forecast_id, sel.time_period, export_id, cur))


def accuracy_by_week(rows: pd.DataFrame) -> pd.DataFrame:
    """Aggregate accuracy and bias per week over the headline rows (never a manager and their reps
    together): accuracy = 100 * (1 - sum|F - A| / sum|A|) (WAPE form), bias = 100 * (sum F - sum A) / sum|A|."""
    weeks = ["week_number", "time_frame_id"] + (["start_date"] if "start_date" in rows.columns else [])
    rows = rows[rows["in_headline"]].copy()
    if rows.empty:
        return pd.DataFrame(columns=[*weeks, "forecast_amount", "actual_amount", "accuracy_pct", "bias_pct"])
    rows["abs_error"] = (rows["forecast_amount"] - rows["actual_amount"]).abs()
    rows["abs_actual"] = rows["actual_amount"].abs()
    out = rows.groupby(weeks, as_index=False, dropna=False).agg(
        forecast_amount=("forecast_amount", "sum"), actual_amount=("actual_amount", "sum"),
        abs_error=("abs_error", "sum"), abs_actual=("abs_actual", "sum"))
    denominator = out["abs_actual"].where(out["abs_actual"] != 0)
    out["accuracy_pct"] = 100 * (1 - out["abs_error"] / denominator)
    out["bias_pct"] = 100 * (out["forecast_amount"] - out["actual_amount"]) / denominator
    return out.drop(columns=["abs_error", "abs_actual"]).sort_values("week_number").reset_index(drop=True)


def accuracy_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per person: mean accuracy and bias over the period's weeks, and the final actual."""
    if rows.empty:
        return pd.DataFrame(columns=["user_id", "user_name", "is_manager", "manager", "actual_amount",
                                     "mean_accuracy_pct", "mean_bias_pct", "weeks"])
    return (rows.groupby(["user_id", "user_name", "is_manager", "manager"], dropna=False, as_index=False)
            .agg(actual_amount=("actual_amount", "first"), mean_accuracy_pct=("accuracy_pct", "mean"),
                 mean_bias_pct=("bias_pct", "mean"), weeks=("week_number", "count"))
            .sort_values(["is_manager", "mean_accuracy_pct"], ascending=[False, True])
            .reset_index(drop=True))


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportPair:
    latest: int | None  # the export shown (at sel.as_of)
    previous: int | None
    week_ago: int | None
    first: int | None


@dataclass(frozen=True)
class ExportPoints:
    """The exports a page compares: the one shown at `sel.as_of`, the one before it, the newest at
    least `days` older (None if none is), and the period's first."""

    shown: Export | None
    previous: Export | None
    week_ago: Export | None
    first: Export | None


def export_points(wh: Warehouse, sel: Selection, days: int = 7, cur=None) -> ExportPoints:
    return export_points_of(exports_of(wh, sel.forecast_id, sel.time_period, cur), sel.as_of, days)


def export_points_of(exports: pd.DataFrame, as_of: datetime | None, days: int = 7) -> ExportPoints:
    """ExportPoints from a period's exports (`exports_of`: newest first): the shown export is the
    newest taken at or before `as_of` (the latest when None)."""
    if as_of is not None:
        exports = exports[exports["exported_at"] <= pd.Timestamp(as_of)]
    if exports.empty:
        return ExportPoints(None, None, None, None)

    def export(rows: pd.DataFrame) -> Export | None:
        if rows.empty:
            return None
        return Export(int(rows["export_id"].iloc[0]), pd.Timestamp(rows["exported_at"].iloc[0]).to_pydatetime())

    shown = export(exports)
    older = exports[exports["export_id"] < shown.export_id]
    week_ago = older[older["exported_at"] <= pd.Timestamp(shown.exported_at) - pd.Timedelta(days=days)]
    return ExportPoints(shown, export(older), export(week_ago), export(exports.iloc[::-1]))


def export_pair(wh: Warehouse, sel: Selection, days: int = 7, cur=None) -> ExportPair:
    points = export_points(wh, sel, days, cur)
    ids = [p.export_id if p else None for p in (points.shown, points.previous, points.week_ago, points.first)]
    # With less than a week of history, "the last week" is everything since the first export.
    return ExportPair(ids[0], ids[1], ids[2] if ids[2] is not None else ids[3], ids[3])


def moves_between(wh: Warehouse, sel: Selection, from_export: int, to_export: int, *, change_pct: float,
                  change_min_amount: float, cur=None) -> pd.DataFrame:
    """Every move of a member's number between two exports, with `is_significant` from the change
    rule (one SQL macro, also used when a load records its changes) at the given thresholds."""
    return wh.query("moves_between", cur, **sel.params(), from_export=from_export, to_export=to_export,
                    change_pct=change_pct, change_min_amount=change_min_amount)


def significant_moves(moves: pd.DataFrame) -> pd.DataFrame:
    """The moves that count (`is_significant`)."""
    return moves[moves["is_significant"].astype(bool)].reset_index(drop=True)


def biggest_movers(moves: pd.DataFrame, n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The n largest moves up and the n largest down."""
    up = moves[moves["change_amount"] > 0].nlargest(n, "change_amount")
    down = moves[moves["change_amount"] < 0].nsmallest(n, "change_amount")
    return up.reset_index(drop=True), down.reset_index(drop=True)


# -- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataStatus:
    """How fresh the data is and how the last refreshes went."""

    fresh_at: datetime | None
    data_version: int
    last_outcome: str | None
    last_error: str | None
    last_finished_at: datetime | None
    runs_in_progress: int


def data_status(wh: Warehouse, cur=None) -> DataStatus:
    return DataStatus(**wh.query_row("status", cur))


def run_history(wh: Warehouse, limit: int = 50, cur=None) -> pd.DataFrame:
    return wh.query("run_history", cur, limit=limit)


def export_history(wh: Warehouse, limit: int = 100, cur=None) -> pd.DataFrame:
    return wh.query("export_history", cur, limit=limit)


def export_problems(wh: Warehouse, cur=None) -> pd.DataFrame:
    return wh.query("export_problems", cur)


def row_counts(wh: Warehouse, cur=None) -> pd.DataFrame:
    return wh.query("row_counts", cur)


def accuracy_period(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> str | None:
    """The period whose accuracy a view shows: the selected one if it has ended, else the latest ended."""
    loaded = periods(wh, sel.forecast_id, cur, as_of=sel.as_of)
    ended = loaded[loaded["has_ended"]]["time_period"].tolist()
    if sel.time_period in ended:
        return sel.time_period
    return ended[0] if ended else None
