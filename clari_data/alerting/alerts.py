"""The alert rules of `rules.py`, evaluated on the warehouse's data.

Each firing rule is one `Alert` (one banner) listing the people it concerns with their numbers.
The same evaluation feeds the page banners and the notifications, so both always agree.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from clari_data.read import analytics, projection
from clari_data.read.analytics import DataStatus, Selection
from clari_data.shared.config import AlertSettings, FieldRoles, Settings
from clari_data.shared.rules import ACCURACY, BAND, CHANGE, COVERAGE, EXPORT_PROBLEM, REFRESH_FAILED, STALE, Alert
from clari_data.shared.timeutil import utc_now
from clari_data.storage.warehouse import Warehouse


def operational_alerts(wh: Warehouse, settings: Settings, data_status: DataStatus, now: datetime,
                       cur=None) -> list[Alert]:
    """Rules about the data's state rather than its numbers: stale data, failed refreshes, bad exports."""
    thresholds = settings.alerts
    found = [
        STALE.check(data_status.fresh_at, now, **STALE.thresholds(thresholds)),
        REFRESH_FAILED.check(data_status, **REFRESH_FAILED.thresholds(thresholds)),
        EXPORT_PROBLEM.check(analytics.export_problems(wh, cur), **EXPORT_PROBLEM.thresholds(thresholds)),
    ]
    return [a for a in found if a is not None]


def data_alerts(wh: Warehouse, thresholds: AlertSettings, roles: FieldRoles, sel: Selection,
                cur=None) -> list[Alert]:
    """The threshold rules on a selection's numbers: coverage, accuracy, moved calls, calls outside
    their own band."""
    found = [COVERAGE.check(analytics.coverage_members(wh, sel, cur), **COVERAGE.thresholds(thresholds))]
    ended = analytics.accuracy_period(wh, sel, cur)
    if ended:
        rows = analytics.accuracy_members(wh, replace(sel, time_period=ended), cur)
        found.append(ACCURACY.check(analytics.accuracy_summary(rows), ended, **ACCURACY.thresholds(thresholds)))
    pair = analytics.export_pair(wh, sel, cur=cur)
    if pair.previous is not None:
        limits = CHANGE.thresholds(thresholds)
        moves = analytics.moves_between(wh, sel, pair.previous, pair.latest, cur=cur, **limits)
        found.append(CHANGE.check(analytics.significant_moves(moves), {roles.commit, roles.best_case}, **limits))
    found.append(BAND.check(projection.members(wh, sel, cur), **BAND.thresholds(thresholds)))
    return [a for a in found if a is not None]


def evaluate(wh: Warehouse, settings: Settings, sel: Selection | None, now: datetime | None = None,
             cur=None) -> list[Alert]:
    """Every rule: the data-level ones, and with a selection the threshold rules on its numbers."""
    found = operational_alerts(wh, settings, analytics.data_status(wh, cur), now or utc_now(), cur)
    if sel is not None:
        found += data_alerts(wh, settings.alerts, settings.fields, sel, cur)
    return found
