"""The calibrated projection: where each person will likely land, as P10 / P50 / P90, learned from
how their own commit calls at each week of past quarters compared with what they closed.

The projection the pages and the public views show is computed in SQL
(`sql/views/30_projection.sql`: `projection_at`, `forecast_projection`, `projection_backtest`).
This module holds the same estimator in Python beside the alternatives it was chosen from, and
back-tests them all on a warehouse's ended quarters, so that the choice is measured, not assumed:

    .venv/bin/python -m clari_data.projection --demo      # a fresh demo tenant's history (about 30 s)
    .venv/bin/python -m clari_data.projection --db data/clari.duckdb

Each estimator projects a person at week w of a quarter from the ended quarters that ended before
that quarter began (nothing later: no leakage), and is scored on every ended quarter that has at
least `MIN_QUARTERS` ended quarters before it: the WAPE of its P50 against the actual, that of the
raw call, and the share of person-weeks whose actual fell inside its P10-P90 band.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import analytics
from .analytics import Selection
from .warehouse import Cursor, Warehouse

Z90 = 1.2815515655446004  # the standard normal's 90th percentile
MIN_QUARTERS = 2  # ended quarters before a quarter for it to be back-tested (projection_min_quarters)
POOLING = 0.5  # the chosen pooling strength (projection_pooling in SQL)


@dataclass(frozen=True)
class Estimator:
    """How a person's past log ratios r = ln(actual / call) at a week become a band.

    `center`: "mean" (of r, pooled toward the group with weight `k`), "median" (of r, the same
    pooling), "mean_ratio" (the mean of actual / call, not its log, pooled alike).
    `spread`: "normal" (pooled variance of r, inflated for a finite sample, with the normal's z) or
    "residuals" (the 10th and 90th percentiles of every past r minus its own person's mean, in the
    person's group).
    """

    name: str
    center: str = "median"
    spread: str = "normal"
    k: float = POOLING


CHOSEN = Estimator("median log ratio, normal band, k = 0.5")
ALTERNATIVES = (
    Estimator("mean log ratio, normal band, k = 0 (own quarters only)", center="mean", k=0.0),
    Estimator("mean log ratio, normal band, k = 1", center="mean", k=1.0),
    Estimator("mean log ratio, normal band, k = 2", center="mean", k=2.0),
    Estimator("mean log ratio, normal band, k = 4", center="mean", k=4.0),
    Estimator("mean log ratio, normal band, k = 8", center="mean", k=8.0),
    CHOSEN,
    Estimator("median log ratio, normal band, k = 1", k=1.0),
    Estimator("median log ratio, normal band, k = 2", k=2.0),
    Estimator("mean ratio (not log), normal band, k = 0.5", center="mean_ratio"),
    Estimator("median log ratio, residual quantile band, k = 0.5", spread="residuals"),
)


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


def history(wh: Warehouse, forecast_id: str, cur: Cursor | None = None) -> pd.DataFrame:
    """Every ended quarter's call, final actual and closed won per person and week (projection_history)."""
    return wh.query("projection_history", cur, forecast_id=forecast_id)


def fit(past: pd.DataFrame, est: Estimator = CHOSEN) -> pd.DataFrame:
    """Per person and week: mu and sigma of ln(actual / call) (or the residual quantiles), pooled
    toward their group (same manager and role, else everyone of their role) with weight k.

    `past`: history rows (user_id, manager_user_id, is_manager, week_number, log_ratio, ...) of the
    quarters that may be used. Pure: the hand-worked tests call it directly."""
    past = past.assign(ratio=np.exp(past["log_ratio"]), manager_user_id=past["manager_user_id"].fillna(""))
    value = "ratio" if est.center == "mean_ratio" else "log_ratio"
    how = "median" if est.center == "median" else "mean"
    own = past.groupby(["user_id", "week_number"]).agg(
        n=(value, "size"), own_mean=(value, how), own_var=(value, "var"),
        manager_user_id=("manager_user_id", "first"), is_manager=("is_manager", "first")).reset_index()
    own["own_var"] = own["own_var"].fillna(0.0)
    team = _group(past, ["manager_user_id", "is_manager", "week_number"], value, how)
    org = _group(past, ["is_manager", "week_number"], value, how)
    people = own[["user_id", "week_number", "manager_user_id", "is_manager", "n", "own_mean", "own_var"]]
    out = people.merge(team, on=["manager_user_id", "is_manager", "week_number"], how="left")
    out = out.merge(org, on=["is_manager", "week_number"], how="left", suffixes=("", "_org"))
    for column in ("group_mean", "group_var"):
        out[column] = out[column].fillna(out[f"{column}_org"])
    w_group = np.where(out["group_mean"].notna(), est.k, 0.0)
    w_own = out["n"].astype(float)
    out["mu"] = (w_own * out["own_mean"] + w_group * out["group_mean"].fillna(0.0)) / (w_own + w_group)
    dof = np.maximum(w_own - 1, 0)
    variance = (dof * out["own_var"] + w_group * out["group_var"].fillna(0.0)) / (dof + w_group)
    out["sigma"] = np.sqrt(variance * (1 + 1 / (w_own + w_group)))
    if est.spread == "residuals":
        residuals = past.assign(res=past[value] - past.groupby(["user_id", "week_number"])[value].transform(how))
        quantiles = residuals.groupby(["manager_user_id", "is_manager", "week_number"])["res"].quantile(
            [0.1, 0.9]).unstack().rename(columns={0.1: "res_p10", 0.9: "res_p90"}).reset_index()
        out = out.merge(quantiles, on=["manager_user_id", "is_manager", "week_number"], how="left")
    return out


def _group(past: pd.DataFrame, keys: list[str], value: str, how: str) -> pd.DataFrame:
    grouped = past.groupby(keys)[value]
    out = pd.DataFrame({"group_mean": grouped.agg(how), "group_var": grouped.var(), "size": grouped.size()})
    return out[out["size"] >= 2].drop(columns="size").reset_index()


def project(rows: pd.DataFrame, fitted: pd.DataFrame, est: Estimator = CHOSEN) -> pd.DataFrame:
    """P10 / P50 / P90 for `rows` (user_id, week_number, call_amount, closed_amount) from `fit`:
    no quantile below what is already closed, P90 not below P50. Only the people with a past of
    their own are projected (the views also project someone new from their group)."""
    out = rows.merge(fitted[[c for c in fitted.columns if c in (
        "user_id", "week_number", "n", "mu", "sigma", "res_p10", "res_p90")]], on=["user_id", "week_number"])
    call = out["call_amount"].where(out["call_amount"] > 0)
    closed = out["closed_amount"].fillna(0.0)
    if est.center == "mean_ratio":
        center = call * out["mu"]
        low, high = center * np.exp(-Z90 * out["sigma"]), center * np.exp(Z90 * out["sigma"])
    else:
        center = call * np.exp(out["mu"])
        if est.spread == "residuals":
            low, high = center * np.exp(out["res_p10"]), center * np.exp(out["res_p90"])
        else:
            low, high = center * np.exp(-Z90 * out["sigma"]), center * np.exp(Z90 * out["sigma"])
    out["p50_amount"] = np.maximum(center, closed)
    out["p10_amount"] = np.maximum(low, closed)
    out["p90_amount"] = np.maximum(np.maximum(high, center), closed)
    return out


def backtest(hist: pd.DataFrame, est: Estimator = CHOSEN, min_quarters: int = MIN_QUARTERS) -> pd.DataFrame:
    """Each ended quarter with `min_quarters` ended before it, projected week by week from those
    alone: forecast_id, time_period, week_number, people, band_coverage, p50_wape, call_wape
    (the columns of the view projection_backtest)."""
    quarters = hist[["time_period", "period_start"]].drop_duplicates().sort_values("period_start")
    frames = []
    for period, start in zip(quarters["time_period"], quarters["period_start"]):
        past = hist[hist["period_end"] < start]
        if past["time_period"].nunique() < min_quarters:
            continue
        target = hist[hist["time_period"] == period]
        frames.append(project(target, fit(past, est), est))
    if not frames:
        return pd.DataFrame(columns=["forecast_id", "time_period", "week_number", "people", "band_coverage",
                                     "p50_wape", "call_wape"])
    scored = pd.concat(frames, ignore_index=True).dropna(subset=["p50_amount"])
    scored["inside"] = (scored["actual_amount"] >= scored["p10_amount"]) & \
        (scored["actual_amount"] <= scored["p90_amount"])
    scored["p50_error"] = (scored["p50_amount"] - scored["actual_amount"]).abs()
    scored["call_error"] = (scored["call_amount"] - scored["actual_amount"]).abs()
    scored["abs_actual"] = scored["actual_amount"].abs()
    out = scored.groupby(["forecast_id", "time_period", "week_number"], as_index=False).agg(
        people=("inside", "size"), band_coverage=("inside", "mean"), p50_error=("p50_error", "sum"),
        call_error=("call_error", "sum"), abs_actual=("abs_actual", "sum"))
    out["p50_wape"] = out["p50_error"] / out["abs_actual"]
    out["call_wape"] = out["call_error"] / out["abs_actual"]
    return out.drop(columns=["p50_error", "call_error", "abs_actual"])


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


def compare(hist: pd.DataFrame, estimators: tuple[Estimator, ...] = ALTERNATIVES) -> pd.DataFrame:
    """Every estimator's back-test in one table: estimator, quarters, person_weeks, band_coverage,
    p50_wape, call_wape, p50_closer_pct; reps alone and everyone (managers are roll-ups, so their
    errors are smaller and their amounts larger)."""
    lines = []
    for est in estimators:
        for who, rows in (("everyone", hist), ("reps", hist[~hist["is_manager"].astype(bool)])):
            s = score(backtest(rows, est))
            lines.append({"estimator": est.name, "people": who, "quarters": s.quarters,
                          "person_weeks": s.person_weeks, "band_coverage": s.band_coverage,
                          "p50_wape": s.p50_wape, "call_wape": s.call_wape, "p50_closer_pct": s.p50_closer_pct})
    return pd.DataFrame(lines)


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


# -- the command ----------------------------------------------------------------------------------


def _demo_warehouse(directory: Path) -> Warehouse:
    """A fresh demo tenant's history, as the dashboard's first start loads it (on a fixed day, so
    the figures repeat)."""
    from dataclasses import replace

    from . import demo
    from .config import DemoSettings, Settings, WarehouseSettings
    from .refresh import run_refresh

    settings = Settings(warehouse=WarehouseSettings(path=str(directory / "demo.duckdb")),
                        demo=replace(DemoSettings(), job_seconds=0.0))
    wh = Warehouse.from_settings(settings)
    try:
        done = demo.backfill(settings, wh, run_refresh, today=datetime(2026, 11, 18, 12, tzinfo=UTC))
    finally:
        demo.stop()
    print(done.summary(), file=sys.stderr)
    return wh


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clari_data.projection",
                                     description="Back-test the projection and the estimators it was chosen from.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", help="a warehouse file (read while no other process writes it)")
    source.add_argument("--demo", action="store_true", help="build the demo's history in a temporary directory")
    parser.add_argument("--forecast", default=None, help="forecast id (default: the first loaded)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wh = _demo_warehouse(Path(tmp)) if args.demo else Warehouse(args.db)
        try:
            forecasts = wh.query("filter_forecasts")["forecast_id"].tolist()
            forecast = args.forecast or (forecasts[0] if forecasts else None)
            if forecast is None:
                print("No data loaded.")
                return 1
            rows = wh.query("projection_backtest", forecast_id=forecast)
            hist = history(wh, forecast)
        finally:
            wh.close()
    everyone = score(rows)
    print(f"projection_backtest of {forecast}: {summary_line(everyone)}")
    print(f"  person-weeks {everyone.person_weeks}, band coverage {_pct(everyone.band_coverage)}, "
          f"P50 WAPE {_pct(everyone.p50_wape)}, call WAPE {_pct(everyone.call_wape)}")
    print("\nEstimators compared (the same back-test, computed in Python):")
    table = compare(hist)
    for column in ("band_coverage", "p50_wape", "call_wape"):
        table[column] = table[column].map(_pct)
    table["p50_closer_pct"] = table["p50_closer_pct"].map(lambda v: "-" if v is None or math.isnan(v) else f"{v:.0f}%")
    print(table.to_string(index=False))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


if __name__ == "__main__":
    raise SystemExit(main())
