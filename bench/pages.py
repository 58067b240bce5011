"""The data calls each page makes, as the views make them.

A page run calls the analytics functions of `app.py` and `ui/page.py` (the filter options, the
status, the alert rules) and then its own. In the app most of them go through `View.load`, which
caches a result per data version; here they are called directly, so what is timed is the query
work a page needs when the cache cannot answer (cold: first calls after opening the warehouse;
warm: DuckDB's buffers and the OS cache hot). `read_limits` (an HTTP call to Clari) is not a data
call and is left out of the Data page's figure.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from clari_data import alerts, analytics
from clari_data.analytics import Selection
from clari_data.config import AlertSettings, FieldRoles
from clari_data.warehouse import Warehouse

PAGES = ("overview", "accuracy", "coverage", "reps", "changes", "data")

Call = tuple[str, Callable[[], Any]]


def default_selection(wh: Warehouse, cur) -> Selection:
    """What a page opened without filters shows: the first forecast, the newest period, everyone."""
    forecast = analytics.forecasts(wh, cur)[0]
    period = analytics.periods(wh, forecast, cur)["time_period"].iloc[0]
    return Selection(forecast, period)


def shared_calls(wh: Warehouse, cur, sel: Selection) -> list[Call]:
    """What every page run asks for before the page itself: app.py and ui/page.start."""
    thresholds, roles = AlertSettings(), FieldRoles()
    return [
        ("status", lambda: analytics.status(wh, cur)),
        ("forecasts", lambda: analytics.forecasts(wh, cur)),
        ("periods", lambda: analytics.periods(wh, sel.forecast_id, cur)),
        ("people", lambda: analytics.people(wh, sel.forecast_id, sel.time_period, cur)),
        ("export_problems", lambda: analytics.export_problems(wh, cur)),
        ("data_alerts", lambda: alerts.data_alerts(wh, thresholds, roles, sel, cur)),
    ]


def page_calls(page: str, wh: Warehouse, cur, sel: Selection) -> list[Call]:
    """The page's own calls, in the order its view makes them."""
    if page == "overview":
        return [("weekly_totals+headline", lambda: analytics.headline_of(analytics.weekly_totals(wh, sel, cur)))]
    if page == "accuracy":
        def members():
            ended = alerts.accuracy_period(wh, sel, cur)
            rows = analytics.accuracy_members(wh, Selection(sel.forecast_id, ended, sel.team, sel.reps), cur)
            return analytics.accuracy_summary(rows), analytics.accuracy_by_week(rows)
        return [("accuracy_period+members", members)]
    if page == "coverage":
        return [("coverage_members", lambda: analytics.coverage_members(wh, sel, cur)),
                ("weekly_totals", lambda: analytics.weekly_totals(wh, sel, cur))]
    if page == "reps":
        return [("performance_members", lambda: analytics.performance_members(wh, sel, cur)),
                ("people", lambda: analytics.people(wh, sel.forecast_id, sel.time_period, cur))]
    if page == "changes":
        def moves():
            pair = analytics.export_pair(wh, sel, cur=cur)
            out = []
            for start in (pair.previous, pair.week_ago):
                if start is not None and start != pair.latest:
                    out.append(analytics.moves_between(wh, sel, start, pair.latest, cur))
            return out
        return [("export_pair+moves_between x2", moves)]
    if page == "data":
        return [("run_history", lambda: analytics.run_history(wh, cur=cur)),
                ("export_history", lambda: analytics.export_history(wh, cur=cur)),
                ("row_counts", lambda: analytics.row_counts(wh, cur=cur))]
    raise ValueError(page)


def time_calls(calls: list[Call]) -> dict[str, float]:
    out = {}
    for name, call in calls:
        t = time.perf_counter()
        call()
        out[name] = time.perf_counter() - t
    return out
