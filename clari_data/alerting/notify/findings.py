"""What fires, for notifications: the rules as the banners evaluate them, each firing item keyed.

The data-level rules are evaluated once; the threshold rules for each configured forecast's newest
period over the whole org. A key (`Alert.keys`) is the stable identity of one firing item, by
which a channel remembers what it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from clari_data.alerting import alerts
from clari_data.read import analytics
from clari_data.read.analytics import Selection
from clari_data.shared.config import Settings
from clari_data.shared.rules import ACCURACY, Alert, AlertItem, rule
from clari_data.shared.timeutil import utc_now
from clari_data.storage.warehouse import Warehouse


@dataclass(frozen=True)
class Finding:
    """One firing alert of one scope: the dashboard, or a forecast and period."""

    alert: Alert
    scope: str
    forecast_id: str | None = None
    period: str | None = None  # the period its page shows (the ended one for accuracy)
    people: pd.DataFrame | None = field(default=None, compare=False)


Keyed = dict[str, tuple[Finding, AlertItem | None]]


def evaluate(wh: Warehouse, settings: Settings, now: datetime | None = None) -> list[Finding]:
    """Every firing rule as the banners would show it: the data-level rules once, and the threshold
    rules for each configured forecast's newest period over the whole org."""
    now = now or utc_now()
    with wh.snapshot() as cur:
        found = [Finding(a, rule(a.rule).scope) for a in alerts.evaluate(wh, settings, None, now, cur)]
        known = set(analytics.forecasts(wh, cur))
        for forecast_id in settings.clari.forecast_ids:
            if forecast_id not in known:
                continue
            periods = analytics.periods(wh, forecast_id, cur)
            if periods.empty:
                continue
            sel = Selection(forecast_id, str(periods["time_period"].iloc[0]))
            people = {sel.time_period: analytics.people(wh, forecast_id, sel.time_period, cur)}
            for alert in alerts.data_alerts(wh, settings.alerts, settings.fields, sel, cur):
                shown = sel.time_period
                if alert.rule == ACCURACY.name:
                    shown = analytics.accuracy_period(wh, sel, cur) or shown
                    if shown not in people:
                        people[shown] = analytics.people(wh, forecast_id, shown, cur)
                found.append(Finding(alert, f"{forecast_id}/{sel.time_period}", forecast_id, shown,
                                     people[shown]))
    return found


def keyed(findings: list[Finding], rules: tuple[str, ...]) -> Keyed:
    """Each firing key of the chosen rules with its alert and item, in the alerts' order."""
    out: Keyed = {}
    for f in findings:
        if f.alert.rule not in rules:
            continue
        items: list[AlertItem | None] = list(f.alert.items) or [None]
        for key, item in zip(f.alert.keys(f.scope), items):
            out.setdefault(key, (f, item))
    return out
