"""What the pages show, as data: query wrappers over the warehouse views plus the pure arithmetic
on their results (ratios of sums), so pages hold no SQL and tests can check every number. The
thresholds (the change rule, coverage, the rep status cut-offs) are applied in SQL only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from .warehouse import Cursor, Warehouse


@dataclass(frozen=True)
class Selection:
    """The filters of a view: one forecast and period, optionally a team (its manager's user id)
    and several reps."""

    forecast_id: str
    time_period: str
    team: str | None = None
    reps: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"forecast_id": self.forecast_id, "time_period": self.time_period,
                "team": self.team, "reps": list(self.reps)}


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


def periods(wh: Warehouse, forecast_id: str, cur=None) -> pd.DataFrame:
    return wh.query("filter_periods", cur, forecast_id=forecast_id)


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
    """The headline numbers per week, with open pipeline, remaining quota and coverage."""
    return wh.query("weekly_totals", cur, **sel.params())


def coverage_members(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    return wh.query("coverage_members", cur, **sel.params())


def performance_members(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    return wh.query("performance_members", cur, **sel.params())


def accuracy_members(wh: Warehouse, sel: Selection, cur=None) -> pd.DataFrame:
    return wh.query("accuracy_members", cur, **sel.params())


def accuracy_by_week(rows: pd.DataFrame) -> pd.DataFrame:
    """Aggregate accuracy and bias per week over the headline rows (never a manager and their reps
    together): accuracy = 100 * (1 - sum|F - A| / sum|A|) (WAPE form), bias = 100 * (sum F - sum A) / sum|A|."""
    rows = rows[rows["in_headline"]].copy()
    if rows.empty:
        return pd.DataFrame(columns=["week_number", "time_frame_id", "forecast_amount", "actual_amount",
                                     "accuracy_pct", "bias_pct"])
    rows["abs_error"] = (rows["forecast_amount"] - rows["actual_amount"]).abs()
    rows["abs_actual"] = rows["actual_amount"].abs()
    out = rows.groupby(["week_number", "time_frame_id"], as_index=False).agg(
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
    latest: int | None
    previous: int | None
    week_ago: int | None
    first: int | None


def export_pair(wh: Warehouse, sel: Selection, days: int = 7, cur=None) -> ExportPair:
    row = wh.query_row("export_pair", cur, forecast_id=sel.forecast_id, time_period=sel.time_period, days=days)
    # With less than a week of history, "the last week" is everything since the first export.
    week_ago = row["week_ago_export_id"] if row["week_ago_export_id"] is not None else row["first_export_id"]
    return ExportPair(row["latest_export_id"], row["previous_export_id"], week_ago,
                      row["first_export_id"])


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
