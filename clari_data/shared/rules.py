"""The alert rules, declared once: what each is called, how severe it is, which page shows it, how
a message titles it, which `[alerts]` settings it reads, and the check that decides whether it fires.

The page banners (`alerts.py`), the notifications (`notify/`) and the configuration's list of rule
names (`config.ALERT_RULES`) all read this registry. A check is a pure function of the data it is
given and of its settings, passed as keywords named like the `[alerts]` keys; `alerts.py` fetches
the data. This module imports neither pandas nor the configuration: the configuration imports it,
and a refresh process without notifications never needs pandas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from . import money
from .timeutil import naive_utc

if TYPE_CHECKING:
    from pandas import DataFrame

SHOWN_PER_BANNER = 5


@dataclass(frozen=True)
class AlertItem:
    subject_id: str  # user id, or forecast/period for data-level alerts
    subject: str  # what a person reads: a name, "net_arr 2026_Q4"
    value: str  # the number, formatted


@dataclass(frozen=True)
class Alert:
    """One firing rule: one banner, listing the people (or exports) it concerns with their numbers."""

    rule: str  # a name from RULE_NAMES
    message: str  # plain text; names are data, never markup
    items: tuple[AlertItem, ...] = ()
    threshold: str = ""

    @property
    def severity(self) -> str:
        return rule(self.rule).severity

    @property
    def page(self) -> str:
        return rule(self.rule).page

    def keys(self, scope: str) -> list[str]:
        """Stable identities of what fires, for de-duplicating notifications."""
        return [f"{self.rule}|{scope}|{item.subject_id}" for item in self.items] or [f"{self.rule}|{scope}"]


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str  # error or warning
    page: str  # the page that shows what fires: a name from clari_data.shared.pages
    title: str  # a message's heading; {threshold} and {where} (forecast and period) are filled in
    label: str  # names the rule in a message's subject when it concerns no forecast
    settings: tuple[str, ...]  # the [alerts] keys it reads, passed to `check` as keywords
    scope: str  # 'selection': a forecast and period's numbers; 'dashboard': the data's state
    check: Callable[..., Alert | None]  # the data in, the alert out (None: it does not fire)

    def thresholds(self, alert_settings: Any) -> dict[str, float]:
        """This rule's settings from an `AlertSettings`, as `check` takes them."""
        return {name: getattr(alert_settings, name) for name in self.settings}

    def heading(self, threshold: str, where: str) -> str:
        return self.title.format(threshold=threshold, where=where)


class LastRun(Protocol):
    """What the refresh_failed check reads of `analytics.DataStatus`."""

    last_outcome: str | None
    last_error: str | None
    last_finished_at: datetime | None


# -- the checks ----------------------------------------------------------------------------------


def _text(value: object, default: str = "") -> str:
    """A text cell from a DataFrame: NULLs arrive as None or NaN, never as the string 'nan'."""
    return value if isinstance(value, str) and value else default


def _is_number(value: object) -> bool:
    """A numeric cell that holds a value (not None, NaN or pandas' NA)."""
    return isinstance(value, (int, float)) and not math.isnan(value)


def _listing(items: list[AlertItem]) -> str:
    shown = ", ".join(f"{i.subject} ({i.value})" for i in items[:SHOWN_PER_BANNER])
    more = len(items) - SHOWN_PER_BANNER
    return shown + (f", and {more} more" if more > 0 else "")


def coverage_alert(rows: DataFrame, *, coverage_min: float) -> Alert | None:
    """`rows`: `analytics.coverage_members` of a selection."""
    low = rows[rows["coverage_ratio"].notna() & (rows["coverage_ratio"] < coverage_min)]
    low = low.sort_values("coverage_ratio")
    if low.empty:
        return None
    # Two decimals: 2.96x must not read as "3.0x" in a banner about being below 3x.
    items = [AlertItem(r.user_id, _text(r.user_name, r.user_id), f"{r.coverage_ratio:.2f}x") for r in low.itertuples()]
    return Alert("coverage",
                 f"Pipeline coverage is below {coverage_min:g}x for {len(items)} of {len(rows)}: {_listing(items)}.",
                 tuple(items), f"{coverage_min:g}x")


def accuracy_alert(summary: DataFrame, period: str, *, accuracy_min_pct: float) -> Alert | None:
    """`summary`: `analytics.accuracy_summary` of an ended `period`."""
    low = summary[summary["mean_accuracy_pct"].notna() & (summary["mean_accuracy_pct"] < accuracy_min_pct)]
    low = low.sort_values("mean_accuracy_pct")
    if low.empty:
        return None
    items = [AlertItem(r.user_id, _text(r.user_name, r.user_id), f"{r.mean_accuracy_pct:.1f}%")
             for r in low.itertuples()]
    return Alert("accuracy",
                 f"Forecast accuracy in {period} (mean over its weeks) is below {accuracy_min_pct:g}% for "
                 f"{len(items)} of {len(summary)}: {_listing(items)}.", tuple(items), f"{accuracy_min_pct:g}%")


def change_alert(significant: DataFrame, call_fields: set[str], *, change_pct: float,
                 change_min_amount: float) -> Alert | None:
    """`significant`: `analytics.significant_moves`, the moves at or above the thresholds (applied in
    SQL); this keeps the calls among them and names the thresholds."""
    calls = significant[significant["field_id"].isin(call_fields)] if not significant.empty else significant
    if calls.empty:
        return None
    calls = calls.reindex(calls["change_amount"].abs().sort_values(ascending=False).index)
    items = [AlertItem(f"{r.user_id}/{r.field_id}",
                       f"{_text(r.user_name, r.user_id)} {_text(r.field_name, r.field_id)}",
                       money.full(r.change_amount, signed=True)
                       + (f", {r.change_pct:+.0f}%" if _is_number(r.change_pct) else ", from zero"))
             for r in calls.itertuples()]
    return Alert("change",
                 f"{len(items)} call(s) moved by at least {change_pct:g}% and "
                 f"{money.full(change_min_amount)} since the previous export: {_listing(items)}.",
                 tuple(items), f"{change_pct:g}% and {money.full(change_min_amount)}")


def band_side(call: float | None, p10: float | None, p90: float | None) -> str | None:
    """Where a commit call lies against the caller's own P10-P90 band: "above", "below", "" inside it
    (a call on an edge is inside), None without a band. The band banner and /projection's table
    both say it from here."""
    if money.is_missing(p10) or money.is_missing(p90):
        return None
    if money.is_missing(call):
        return ""
    return "above" if call > p90 else "below" if call < p10 else ""


def band_alert(rows: DataFrame) -> Alert | None:
    """`rows`: `projection.members` of a selection: each person's commit call and their own
    P10-P90 band (learned from their past quarters) at the week shown."""
    banded = rows[rows["p10_amount"].notna() & rows["p90_amount"].notna() & rows["call_amount"].notna()]
    sides = [band_side(c, p10, p90) for c, p10, p90 in zip(banded["call_amount"], banded["p10_amount"],
                                                           banded["p90_amount"])]
    outside = banded[[side != "" for side in sides]]
    if outside.empty:
        return None
    # The furthest outside first, in proportion to the band's own edge.
    edge = outside["p90_amount"].where(outside["call_amount"] > outside["p90_amount"], outside["p10_amount"])
    outside = outside.reindex(((outside["call_amount"] - edge).abs() / edge.abs()).sort_values(ascending=False).index)
    items = [AlertItem(r.user_id, _text(r.user_name, r.user_id),
                       f"call {money.full(r.call_amount)} {band_side(r.call_amount, r.p10_amount, r.p90_amount)} "
                       f"{money.full(r.p10_amount)}-{money.full(r.p90_amount)}")
             for r in outside.itertuples()]
    return Alert("band",
                 f"{len(items)} of {len(banded)} commit call(s) lie outside the caller's own P10-P90 band, learned "
                 f"from how their past calls at this week of the quarter ended: {_listing(items)}.", tuple(items))


def stale_alert(fresh_at: datetime | None, now: datetime, *, stale_after_hours: float) -> Alert | None:
    """`fresh_at`: when the data was last refreshed (naive UTC, as stored)."""
    if fresh_at is None:
        return Alert("stale", "No data has been loaded yet: run a refresh.", (), f"{stale_after_hours:g} h")
    age_hours = (naive_utc(now) - fresh_at).total_seconds() / 3600
    if age_hours <= stale_after_hours:
        return None
    return Alert("stale",
                 f"The data is {age_hours:.1f} hours old (last refreshed {fresh_at:%Y-%m-%d %H:%M} UTC), "
                 f"older than the {stale_after_hours:g} hours allowed. Check the refresh schedule and the run history.",
                 (), f"{stale_after_hours:g} h")


def refresh_failed_alert(last: LastRun) -> Alert | None:
    if last.last_outcome not in ("failed", "partial"):
        return None
    what = "failed" if last.last_outcome == "failed" else "partly failed"
    when = f" at {last.last_finished_at:%Y-%m-%d %H:%M} UTC" if last.last_finished_at else ""
    return Alert("refresh_failed",
                 f"The last refresh {what}{when}: {last.last_error or 'see the run history'}. "
                 "The dashboard shows the last good data.")


def export_problem_alert(problems: DataFrame) -> Alert | None:
    """`problems`: `analytics.export_problems`, the latest attempt of each export that went wrong."""
    severe = problems[problems["failure_kind"].isin(["empty", "truncated"])] if not problems.empty else problems
    if severe.empty:
        return None
    items = [AlertItem(f"{r.forecast_id}/{_text(r.time_period, 'current')}",
                       f"{r.forecast_id} {_text(r.time_period, 'current quarter')}", str(r.failure_kind))
             for r in severe.itertuples()]
    return Alert("export_problem",
                 f"An export came back empty or truncated and was not loaded: {_listing(items)}. "
                 "The previous data is kept.", tuple(items))


# -- the registry --------------------------------------------------------------------------------

COVERAGE = Rule(
    "coverage", "warning", page="coverage", title="Pipeline coverage below {threshold} in {where}",
    label="pipeline coverage", settings=("coverage_min",), scope="selection", check=coverage_alert)
ACCURACY = Rule(
    "accuracy", "warning", page="accuracy", title="Forecast accuracy below {threshold} in {where}",
    label="forecast accuracy", settings=("accuracy_min_pct",), scope="selection", check=accuracy_alert)
CHANGE = Rule(
    "change", "warning", page="changes",
    title="Calls moved by at least {threshold} since the previous export of {where}",
    label="moved calls", settings=("change_pct", "change_min_amount"), scope="selection", check=change_alert)
BAND = Rule(
    "band", "warning", page="projection", title="Calls outside their own band in {where}",
    label="calls outside their own band", settings=(), scope="selection", check=band_alert)
STALE = Rule(
    "stale", "error", page="data", title="The data is stale",
    label="stale data", settings=("stale_after_hours",), scope="dashboard", check=stale_alert)
REFRESH_FAILED = Rule(
    "refresh_failed", "error", page="data", title="A refresh failed",
    label="refresh failed", settings=(), scope="dashboard", check=refresh_failed_alert)
EXPORT_PROBLEM = Rule(
    "export_problem", "error", page="data", title="An export came back empty or truncated",
    label="export problem", settings=(), scope="dashboard", check=export_problem_alert)

RULES: tuple[Rule, ...] = (COVERAGE, ACCURACY, CHANGE, BAND, STALE, REFRESH_FAILED, EXPORT_PROBLEM)
RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
_BY_NAME = {r.name: r for r in RULES}


def rule(name: str) -> Rule:
    """The rule of this name; a KeyError names the rules there are."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no alert rule {name!r}; the rules are {', '.join(RULE_NAMES)}") from None
