"""The data each page run fetches: the `clari_data.page_data` functions the pages call.

A page run makes the calls every run shares (the data status, the filter options at each level,
the alert rules behind the banners) and then its page's own `page_data` function. In the app they
go through `ui.run.cached`, which keeps a result per data version; here they are called directly,
so what is timed is the query work a page needs when the cache cannot answer (cold: first calls
after opening the warehouse; warm: DuckDB's buffers and the OS cache hot). `read_limits` (an HTTP
call to Clari) and the notification history (its own small query) are not in the Data page's figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from clari_data import alerts, analytics, page_data
from clari_data.analytics import Selection
from clari_data.config import Settings
from clari_data.pages import PAGES as REGISTRY
from clari_data.timeutil import utc_now
from clari_data.warehouse import Warehouse

PAGES = tuple(p.name for p in REGISTRY)

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


def page_calls(page: str, wh: Warehouse, cur, sel: Selection, settings: Settings | None = None) -> list[Call]:
    """The page's own call: its `page_data` function with the arguments the page passes."""
    thresholds = (settings or Settings()).alerts
    calls: dict[str, Callable[[], Any]] = {
        "overview": lambda: page_data.overview(wh, sel, cur),
        "accuracy": lambda: page_data.accuracy(wh, sel, cur),
        "coverage": lambda: page_data.coverage(wh, sel, cur),
        "reps": lambda: page_data.reps(wh, sel, cur),
        "changes": lambda: page_data.changes(wh, sel, thresholds.change_pct, thresholds.change_min_amount, cur),
        "data": lambda: page_data.data(wh, cur),
    }
    return [(f"page_data.{page}", calls[page])]


def time_calls(calls: list[Call]) -> dict[str, float]:
    out = {}
    for name, call in calls:
        t = time.perf_counter()
        call()
        out[name] = time.perf_counter() - t
    return out
