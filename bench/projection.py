"""Research: the projection's estimator in Python beside the alternatives it was chosen from,
back-tested on a warehouse's ended quarters, so that the choice is measured, not assumed:

    .venv/bin/python -m bench projection --demo      # a fresh demo tenant's history (about 30 s)
    .venv/bin/python -m bench projection --db data/clari.duckdb

Each estimator projects a person at week w of a quarter from the ended quarters that ended before
that quarter began (nothing later: no leakage), and is scored on every ended quarter that has at
least `MIN_QUARTERS` ended quarters before it: the WAPE of its P50 against the actual, that of the
raw call, and the share of person-weeks whose actual fell inside its P10-P90 band. The dashboard
computes the chosen one in SQL (`projection_backtest`); `main` prints both side by side.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from clari_data.read.projection import MIN_QUARTERS, POOLING, Z90, score, summary_line
from clari_data.storage.warehouse import Cursor, Warehouse


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


CHOSEN = Estimator(f"median log ratio, normal band, k = {POOLING:g}")
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


# -- the command ----------------------------------------------------------------------------------


def _demo_warehouse(directory: Path) -> Warehouse:
    """A fresh demo tenant's history, as the dashboard's first start loads it (on a fixed day, so
    the figures repeat)."""
    from dataclasses import replace

    from clari_data.ingest import demo
    from clari_data.ingest.refresh import run_refresh
    from clari_data.shared.config import DemoSettings, Settings, WarehouseSettings

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
    parser = argparse.ArgumentParser(prog="python -m bench projection",
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
