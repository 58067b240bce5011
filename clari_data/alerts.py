"""The [alerts] threshold rules, evaluated on the data a view shows.

Each firing rule is one `Alert` (one banner) listing the people it concerns with their numbers.
The same evaluation feeds the page banners and the notifications, so both always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from . import analytics
from .analytics import Selection
from .config import AlertSettings, FieldRoles, Settings
from .warehouse import Warehouse

SHOWN_PER_BANNER = 5


def _text(value: object, default: str = "") -> str:
    """A text cell from a DataFrame: NULLs arrive as None or NaN, never as the string 'nan'."""
    return value if isinstance(value, str) and value else default


@dataclass(frozen=True)
class AlertItem:
    subject_id: str  # user id, or forecast/period for data-level alerts
    subject: str  # what a person reads: a name, "net_arr 2026_Q4"
    value: str  # the number, formatted


@dataclass(frozen=True)
class Alert:
    rule: str  # coverage, accuracy, change, stale, refresh_failed, export_problem
    severity: str  # error or warning
    page: str  # the page it concerns: coverage, accuracy, changes, data
    message: str  # plain text; names are data, never markup
    items: tuple[AlertItem, ...] = ()
    threshold: str = ""

    def keys(self, scope: str) -> list[str]:
        """Stable identities of what fires, for de-duplicating notifications."""
        return [f"{self.rule}|{scope}|{item.subject_id}" for item in self.items] or [f"{self.rule}|{scope}"]


def _listing(items: list[AlertItem]) -> str:
    shown = ", ".join(f"{i.subject} ({i.value})" for i in items[:SHOWN_PER_BANNER])
    more = len(items) - SHOWN_PER_BANNER
    return shown + (f", and {more} more" if more > 0 else "")


def coverage_alert(rows: pd.DataFrame, coverage_min: float) -> Alert | None:
    low = rows[rows["coverage_ratio"].notna() & (rows["coverage_ratio"] < coverage_min)]
    low = low.sort_values("coverage_ratio")
    if low.empty:
        return None
    # Two decimals: 2.96x must not read as "3.0x" in a banner about being below 3x.
    items = [AlertItem(r.user_id, _text(r.user_name, r.user_id), f"{r.coverage_ratio:.2f}x") for r in low.itertuples()]
    return Alert("coverage", "warning", "coverage",
                 f"Pipeline coverage is below {coverage_min:g}x for {len(items)} of {len(rows)}: {_listing(items)}.",
                 tuple(items), f"{coverage_min:g}x")


def accuracy_alert(summary: pd.DataFrame, accuracy_min_pct: float, period: str) -> Alert | None:
    low = summary[summary["mean_accuracy_pct"].notna() & (summary["mean_accuracy_pct"] < accuracy_min_pct)]
    low = low.sort_values("mean_accuracy_pct")
    if low.empty:
        return None
    items = [AlertItem(r.user_id, _text(r.user_name, r.user_id), f"{r.mean_accuracy_pct:.1f}%")
             for r in low.itertuples()]
    return Alert("accuracy", "warning", "accuracy",
                 f"Forecast accuracy in {period} (mean over its weeks) is below {accuracy_min_pct:g}% for "
                 f"{len(items)} of {len(summary)}: {_listing(items)}.", tuple(items), f"{accuracy_min_pct:g}%")


def change_alert(moves: pd.DataFrame, thresholds: AlertSettings, call_fields: set[str]) -> Alert | None:
    calls = moves[moves["field_id"].isin(call_fields)] if not moves.empty else moves
    big = analytics.significant_moves(calls, thresholds.change_pct, thresholds.change_min_amount)
    if big.empty:
        return None
    big = big.reindex(big["change_amount"].abs().sort_values(ascending=False).index)
    items = [AlertItem(f"{r.user_id}/{r.field_id}", f"{_text(r.user_name, r.user_id)} {_text(r.field_name, r.field_id)}",
                       _signed_money(r.change_amount)
                       + (f", {r.change_pct:+.0f}%" if pd.notna(r.change_pct) else ", from zero"))
             for r in big.itertuples()]
    return Alert("change", "warning", "changes",
                 f"{len(items)} call(s) moved by at least {thresholds.change_pct:g}% and "
                 f"${thresholds.change_min_amount:,.0f} since the previous export: {_listing(items)}.",
                 tuple(items), f"{thresholds.change_pct:g}% and ${thresholds.change_min_amount:,.0f}")


def stale_alert(fresh_at: datetime | None, stale_after_hours: float, now: datetime) -> Alert | None:
    now = _naive_utc(now)
    if fresh_at is None:
        return Alert("stale", "error", "data", "No data has been loaded yet: run a refresh.", (),
                     f"{stale_after_hours:g} h")
    age_hours = (now - fresh_at).total_seconds() / 3600
    if age_hours <= stale_after_hours:
        return None
    return Alert("stale", "error", "data",
                 f"The data is {age_hours:.1f} hours old (last refreshed {fresh_at:%Y-%m-%d %H:%M} UTC), "
                 f"older than the {stale_after_hours:g} hours allowed. Check the refresh schedule and the run history.",
                 (), f"{stale_after_hours:g} h")


def failed_run_alert(status: analytics.Status) -> Alert | None:
    if status.last_outcome not in ("failed", "partial"):
        return None
    what = "failed" if status.last_outcome == "failed" else "partly failed"
    when = f" at {status.last_finished_at:%Y-%m-%d %H:%M} UTC" if status.last_finished_at else ""
    return Alert("refresh_failed", "error", "data",
                 f"The last refresh {what}{when}: {status.last_error or 'see the run history'}. "
                 "The dashboard shows the last good data.")


def export_problem_alert(problems: pd.DataFrame) -> Alert | None:
    severe = problems[problems["failure_kind"].isin(["empty", "truncated"])] if not problems.empty else problems
    if severe.empty:
        return None
    items = [AlertItem(f"{r.forecast_id}/{_text(r.time_period, 'current')}",
                       f"{r.forecast_id} {_text(r.time_period, 'current quarter')}", str(r.failure_kind))
             for r in severe.itertuples()]
    return Alert("export_problem", "error", "data",
                 f"An export came back empty or truncated and was not loaded: {_listing(items)}. "
                 "The previous data is kept.", tuple(items))


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _signed_money(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.0f}"


def operational_alerts(wh: Warehouse, settings: Settings, status: analytics.Status, now: datetime,
                       cur=None) -> list[Alert]:
    """Rules about the data's state rather than its numbers: stale data, failed refreshes, bad exports."""
    found = [
        stale_alert(status.fresh_at, settings.alerts.stale_after_hours, now),
        failed_run_alert(status),
        export_problem_alert(analytics.export_problems(wh, cur)),
    ]
    return [a for a in found if a is not None]


def data_alerts(wh: Warehouse, thresholds: AlertSettings, roles: FieldRoles, sel: Selection,
                cur=None) -> list[Alert]:
    """The threshold rules on a selection's numbers: coverage, accuracy, moved calls."""
    found = [coverage_alert(analytics.coverage_members(wh, sel, cur), thresholds.coverage_min)]
    ended = accuracy_period(wh, sel, cur)
    if ended:
        rows = analytics.accuracy_members(wh, Selection(sel.forecast_id, ended, sel.team, sel.reps), cur)
        found.append(accuracy_alert(analytics.accuracy_summary(rows), thresholds.accuracy_min_pct, ended))
    pair = analytics.export_pair(wh, sel, cur=cur)
    if pair.previous is not None:
        moves = analytics.moves_between(wh, sel, pair.previous, pair.latest, cur)
        found.append(change_alert(moves, thresholds, {roles.commit, roles.best_case}))
    return [a for a in found if a is not None]


def evaluate(wh: Warehouse, settings: Settings, sel: Selection | None, now: datetime | None = None,
             cur=None) -> list[Alert]:
    """Every rule: the data-level ones, and with a selection the threshold rules on its numbers."""
    now = now or datetime.now(timezone.utc)
    found = operational_alerts(wh, settings, analytics.status(wh, cur), now, cur)
    if sel is not None:
        found += data_alerts(wh, settings.alerts, settings.fields, sel, cur)
    return found


def accuracy_period(wh: Warehouse, sel: Selection, cur=None) -> str | None:
    """The period whose accuracy a view shows: the selected one if it has ended, else the latest ended."""
    periods = analytics.periods(wh, sel.forecast_id, cur)
    ended = periods[periods["has_ended"]]["time_period"].tolist()
    if sel.time_period in ended:
        return sel.time_period
    return ended[0] if ended else None
