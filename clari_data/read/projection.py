"""The calibrated projection: where each person will likely land, as P10 / P50 / P90, learned from
how their own commit calls at each week of past quarters compared with what they closed.

The projection the pages and the public views show is computed in SQL
(`sql/views/30_projection.sql`: `projection_at`, `forecast_projection`, `projection_backtest`);
this module reads what it learned once per data version, projects a page's selection with the
views' own formula (`apply`) and says the back-test in words. How the estimator was chosen from
its alternatives is research, kept apart in `bench/projection.py` (`python -m bench projection`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clari_data.storage.warehouse import Cursor, Warehouse

from . import analytics
from .analytics import Selection

Z90 = 1.2815515655446004  # the standard normal's 90th percentile
MIN_QUARTERS = 2  # ended quarters before a quarter for it to be back-tested (projection_min_quarters)
POOLING = 0.5  # the chosen pooling strength (projection_pooling in SQL)


# -- what the page and the band rule read --------------------------------------------------------
#
# What the projection learns (projection_stats) and its back-test depend on every ended quarter, so
# they are read once per data version and forecast and kept (the issue's "cached per data
# version"); what a page adds to them (its selection's calls at one export) is read each time and
# projected here with the views' own formula (`apply`; a test holds it equal to forecast_projection).


@dataclass(frozen=True)
class Learned:
    stats: pd.DataFrame  # projection_stats of every loaded period of a forecast as the target
    backtest: pd.DataFrame  # projection_backtest of the forecast, with each quarter's period_start
    _split: dict = field(default_factory=dict, compare=False, repr=False)

    def of(self, period: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The own, team and org statistics for target `period`, split once and kept."""
        if period not in self._split:
            self._split[period] = split_stats(self.stats, period)
        return self._split[period]


def split_stats(stats: pd.DataFrame, period: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """projection_stats for one target, as the three tables `apply` joins."""
    mine = stats[stats["target"] == period]
    own = mine[mine["level"] == "own"].rename(columns={"key": "user_id", "n": "own_n", "m": "own_m", "v": "own_v"})
    team = mine[mine["level"] == "team"].rename(columns={"key": "manager_key", "m": "team_m", "v": "team_v"})
    org = mine[mine["level"] == "org"].rename(columns={"m": "org_m", "v": "org_v"})
    # Indexed by their keys once, so that each page's join is a lookup.
    return (own.set_index(["user_id", "week_number"])[["own_n", "own_m", "own_v"]],
            team.set_index(["manager_key", "week_number", "is_manager"])[["team_m", "team_v"]],
            org.set_index(["week_number", "is_manager"])[["org_m", "org_v"]])


_learned: OrderedDict[tuple, Learned] = OrderedDict()
_learned_lock = threading.Lock()
_LEARNED_KEPT = 8  # versions x forecasts kept: a refresh makes the older ones unreachable


def learned(wh: Warehouse, forecast_id: str, cur: Cursor | None = None) -> Learned:
    """The projection's statistics and back-test of a forecast as the cursor's data has them."""
    version = wh.query_row("projection_version", cur)
    key = (wh.cache_token, version["data_version"], version["confirmations"], forecast_id)
    with _learned_lock:
        if key in _learned:
            _learned.move_to_end(key)
            return _learned[key]
    found = Learned(wh.query("projection_stats", cur, forecast_id=forecast_id),
                    wh.query("projection_backtest", cur, forecast_id=forecast_id))
    with _learned_lock:
        _learned[key] = found
        while len(_learned) > _LEARNED_KEPT:
            _learned.popitem(last=False)
    return found


def apply(values: pd.DataFrame, stats: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """`values` (user_id, is_manager, manager_user_id, week_number, call_amount, closed_amount) with
    P10 / P50 / P90, quarters_used and method from `stats` (`split_stats` of projection_stats for
    the values' period): projection_at's formula (sql/views/30_projection.sql)."""
    own, team, org = stats
    out = values.assign(manager_key=values["manager_user_id"].fillna(""), is_manager=values["is_manager"].astype(bool),
                        week_number=values["week_number"].astype(int))
    out = out.join(own, on=["user_id", "week_number"]).join(team, on=["manager_key", "week_number", "is_manager"])
    out = out.join(org, on=["week_number", "is_manager"])
    n = out["own_n"].fillna(0).astype(float)
    group_m = out["team_m"].fillna(out["org_m"])
    group_v = out["team_v"].where(out["team_m"].notna(), out["org_v"])
    w = np.where(group_m.notna(), POOLING, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = (n * out["own_m"].fillna(0) + w * group_m.fillna(0)) / (n + w).replace(0, np.nan)
        dof = np.maximum(n - 1, 0)
        sigma = np.sqrt((dof * out["own_v"].fillna(0) + w * group_v.fillna(0)) / (dof + w).replace(0, np.nan)
                        * (1 + 1 / (n + w).replace(0, np.nan)))
    call = out["call_amount"].where(out["call_amount"] > 0)
    closed = out["closed_amount"].fillna(0.0)

    def quantile(z: float) -> pd.Series:
        return np.maximum(call * np.exp(mu + z * sigma.fillna(0)), closed).where(call.notna() & mu.notna())

    out["p10_amount"], out["p50_amount"] = quantile(-Z90), quantile(0.0)
    out["p90_amount"] = np.maximum(quantile(Z90), out["p50_amount"])
    out["quarters_used"] = n.astype(int)
    toward = np.where(out["team_m"].notna(), "team", np.where(out["org_m"].notna(), "org", None))
    out["method"] = [None if m != m else f"log ratio of the {t} (no quarters of their own)" if k == 0
                     else "log ratio, own quarters only" if t is None
                     else f"log ratio, own quarters pooled toward the {t} (k = {POOLING:g})"
                     for m, k, t in zip(mu, n, toward)]
    return out.drop(columns=["manager_key", "own_n", "own_m", "own_v", "team_m", "team_v", "org_m", "org_v"])


def _values(wh: Warehouse, sel: Selection, latest_week_only: bool, cur: Cursor | None) -> pd.DataFrame:
    export = analytics.export_params(wh, sel.forecast_id, sel.time_period, analytics.shown_export_id(wh, sel, cur),
                                     cur)
    users = None
    if export["export_id"] is not None and not latest_week_only:
        users = analytics.headline_users(wh, sel, cur)
    return wh.query("projection_values", cur, **sel.params(), **export, users=users,
                    latest_week_only=latest_week_only)


def members(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> pd.DataFrame:
    """Each member of the selection (in_members) at the latest week of the export shown at
    `sel.as_of`: the call, closed won, P10 / P50 / P90, quarters of history, the method."""
    return apply(_values(wh, sel, True, cur), learned(wh, sel.forecast_id, cur).of(sel.time_period))


WEEK_SUMS = ("call_amount", "closed_amount", "quota_amount", "p10_amount", "p50_amount", "p90_amount")


def weeks(wh: Warehouse, sel: Selection, cur: Cursor | None = None) -> pd.DataFrame:
    """The selection's headline (in_headline) projected week by week, as the export shown at
    `sel.as_of` had it: each week's call, closed won, quota and P10 / P50 / P90, summed over the
    headline's people (users: how many)."""
    rows = apply(_values(wh, sel, False, cur), learned(wh, sel.forecast_id, cur).of(sel.time_period))
    if rows.empty:
        return pd.DataFrame(columns=["week_number", "time_frame_id", "start_date", "users", *WEEK_SUMS])
    grouped = rows.groupby(["week_number", "time_frame_id", "start_date"])
    out = grouped[list(WEEK_SUMS)].sum(min_count=1)
    out.insert(0, "users", grouped.size())
    return out.reset_index().sort_values("week_number").reset_index(drop=True)


def backtest_rows(wh: Warehouse, forecast_id: str, cur: Cursor | None = None) -> pd.DataFrame:
    """projection_backtest of a forecast, with each quarter's first day (period_start)."""
    return learned(wh, forecast_id, cur).backtest


@dataclass(frozen=True)
class Score:
    """One back-test summed over its quarters and weeks."""

    quarters: int
    person_weeks: int
    band_coverage: float | None  # share of person-weeks whose actual lay in [P10, P90]
    p50_wape: float | None
    call_wape: float | None

    @property
    def p50_closer_pct(self) -> float | None:
        """How much smaller the P50's WAPE is than the call's, in percent of the call's."""
        if self.p50_wape is None or not self.call_wape:
            return None
        return 100 * (1 - self.p50_wape / self.call_wape)


def score(rows: pd.DataFrame) -> Score:
    """`rows`: projection_backtest rows (of any set of quarters and weeks). WAPEs are recombined
    from the rows' own, weighted by their people (each row's actuals are not at hand here, so
    weeks with more people count more, which is exact when the rows' actual totals are alike)."""
    if rows.empty:
        return Score(0, 0, None, None, None)
    people = rows["people"].astype(float)
    total = float(people.sum())

    def weighted(column: str) -> float | None:
        there = rows[column].notna()
        return float((rows.loc[there, column] * people[there]).sum() / people[there].sum()) if there.any() else None

    return Score(int(rows["time_period"].nunique()), int(total), weighted("band_coverage"), weighted("p50_wape"),
                 weighted("call_wape"))


def summary_line(s: Score, week: int | None = None) -> str:
    """The back-test in one sentence, as the page and the command say it."""
    if s.quarters == 0 or s.band_coverage is None:
        return (f"No back-test yet: it needs an ended quarter with {MIN_QUARTERS} ended quarters loaded before it.")
    at = f"at week {week} of the quarter" if week is not None else "over all weeks of the quarter"
    closer = s.p50_closer_pct
    versus = ("" if closer is None else
              f"; the P50 was {closer:.0f}% closer to the actual than the call" if closer >= 0 else
              f"; the P50 was {-closer:.0f}% further from the actual than the call")
    return (f"Over {s.quarters} past quarter{'s' if s.quarters != 1 else ''}, {at} the 80% band held "
            f"{100 * s.band_coverage:.0f}% of the time{versus} (WAPE {100 * s.p50_wape:.1f}% against "
            f"{100 * s.call_wape:.1f}%).")
