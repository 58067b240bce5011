"""The data each page run fetches: the `clari_data.read.page_data` functions the pages call.

A page run makes the calls every run shares (the data status, the filter options at each level,
the alert rules behind the banners) and then its page's own `page_data` function. In the app they
go through `ui.run.cached`, which keeps a result per data version; here they are called directly,
so what is timed is the query work a page needs when the cache cannot answer (cold: first calls
after opening the warehouse; warm: DuckDB's buffers and the OS cache hot). `read_limits` (an HTTP
call to Clari) and the notification history (its own small query) are not in the Data page's figure.

Besides each page of the app (`APP_PAGES`), the table has the Overview's pacing and the /changes
waterfall as rows of their own, and every page with a selection again as of a past export
(`<page> as of`: the export in force `AS_OF_DAYS` days before the latest), to set the cost of
time travel against the live page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from clari_data.alerting import alerts
from clari_data.read import analytics, page_data
from clari_data.read.analytics import Selection
from clari_data.shared.config import Settings
from clari_data.shared.pages import PAGES as REGISTRY
from clari_data.shared.timeutil import utc_now
from clari_data.storage.warehouse import Warehouse

APP_PAGES = tuple(p.name for p in REGISTRY)  # each also run whole by AppTest
PARTS = ("pacing", "waterfall")  # the second calls of the Overview and /changes
AS_OF_DAYS = 14
AS_OF = " as of"
PAGES = (*APP_PAGES, *PARTS, *(f"{p}{AS_OF}" for p in (*APP_PAGES, *PARTS) if p != "data"))

Call = tuple[str, Callable[[], Any]]


def default_selection(wh: Warehouse, cur) -> Selection:
    """What a page opened without filters shows: the first forecast, the newest period, everyone."""
    forecast = page_data.filter_options(wh, cur=cur).forecasts[0]
    return Selection(forecast, page_data.filter_options(wh, forecast, cur=cur).periods[0])


def shared_calls(wh: Warehouse, cur, sel: Selection, settings: Settings | None = None) -> list[Call]:
    """What every page run asks for before the page itself: app.py, the filters and ui/page.start."""
    settings = settings or Settings()
    status = []

    def data_status():
        status[:] = [analytics.data_status(wh, cur)]

    def operational():
        return alerts.operational_alerts(wh, settings, status[0], utc_now(), cur)

    return [
        ("data_status", data_status),
        ("filter_options", lambda: page_data.filter_options(wh, cur=cur)),
        ("filter_options(forecast)", lambda: page_data.filter_options(wh, sel.forecast_id, cur=cur)),
        ("filter_options(forecast, period)",
         lambda: page_data.filter_options(wh, sel.forecast_id, sel.time_period, cur=cur)),
        ("operational_alerts", operational),
        ("data_alerts", lambda: alerts.data_alerts(wh, settings.alerts, settings.fields, sel, cur)),
    ]


def as_of_selection(wh: Warehouse, cur, sel: Selection) -> Selection:
    """The selection as of the export in force `AS_OF_DAYS` days before its latest export."""
    latest = analytics.export_at(wh, sel.forecast_id, sel.time_period, None, cur)
    return replace(sel, as_of=latest.exported_at - timedelta(days=AS_OF_DAYS)) if latest else sel


def page_calls(page: str, wh: Warehouse, cur, sel: Selection, settings: Settings | None = None) -> list[Call]:
    """The page's own call: its `page_data` function with the arguments the page passes (as of
    a past export for `<page> as of`)."""
    thresholds = (settings or Settings()).alerts
    name = page.removesuffix(AS_OF)
    if name != page:
        sel = as_of_selection(wh, cur, sel)
    calls: dict[str, Callable[[], Any]] = {
        "overview": lambda: page_data.overview(wh, sel, cur),
        "accuracy": lambda: page_data.accuracy(wh, sel, cur),
        "coverage": lambda: page_data.coverage(wh, sel, cur),
        "reps": lambda: page_data.reps(wh, sel, cur),
        "changes": lambda: page_data.changes(wh, sel, thresholds.change_pct, thresholds.change_min_amount, cur),
        "data": lambda: page_data.data(wh, cur),
        "pacing": lambda: page_data.pacing(wh, sel, cur),
        "waterfall": lambda: page_data.waterfall(wh, sel, cur=cur),
        "projection": lambda: page_data.projection(wh, sel, cur),
    }
    return [(f"page_data.{name}", calls[name])]


def time_calls(calls: list[Call]) -> dict[str, float]:
    out = {}
    for name, call in calls:
        t = time.perf_counter()
        call()
        out[name] = time.perf_counter() - t
    return out
