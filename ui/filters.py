"""The sidebar filters and their two-way binding to the URL.

`forecast`, `period`, `team`, `rep` (repeated) and `as_of` are the public query parameters, and
`from` on /changes (the waterfall's start). The URL is read
once, when a session starts (a link was opened); from then on the session's widget state is the
truth and every run writes it back to the URL, defaults left out, so the address bar always shows
the view. Values are user and manager *ids*: Streamlit's own `bind="query-params"` would put the
display names in the URL, which are neither unique nor stable.

A value the data does not know gives a visible notice and the default; it never raises, and it
only ever reaches SQL as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from clari_data.read.analytics import Selection, team_members
from clari_data.read.asof import (
    DEFAULT_FROM,
    FROM_WORDS,
    AsOf,
    Notice,
    as_of_of_day,
    as_of_of_export,
    parse_as_of,
    parse_from,
)
from clari_data.read.page_data import FilterOptions
from clari_data.shared.config import PERIOD_RE
from clari_data.shared.pages import page

from .format import md_text

PARAMS = ("forecast", "period", "team", "rep", "as_of")
FROM = "from"  # /changes only: where its waterfall starts
_READ_URL = "_filters_read_url"
_NOTICES = "_filters_notices"
# Not a widget's key: Streamlit forgets a widget's state on pages that do not draw it, and the
# start of the waterfall must survive a visit to another page.
_FROM = "_waterfall_from"
_SHOWN = 40

LoadOptions = Callable[[str | None, str | None], FilterOptions]


@dataclass(frozen=True)
class Context:
    """What the filters need besides their options: names for ids, and the exports' history."""

    page_route: str  # the page being drawn ("" for the Overview)
    forecast_name: Callable[[str], str]
    period_label: Callable[[str], str]
    now: datetime  # the clock the exports are on: the simulator's in demo mode
    first: datetime | None  # the first and latest export times of the warehouse
    latest: datetime | None
    exports_of: Callable[[str, str], pd.DataFrame]  # export_id, exported_at of a forecast and period, newest first
    when: Callable[[datetime], str]  # how an export time is written (marked simulated in demo mode)

    def parse_as_of(self, text: str | None) -> AsOf | Notice:
        return parse_as_of(text, now=self.now, first=self.first, latest=self.latest)

    def as_of_label(self, text: str | None) -> str:
        if not text:
            return "Latest data"
        parsed = self.parse_as_of(text)
        if isinstance(parsed, Notice):
            return text
        if parsed.is_date:
            return f"End of {parsed.moment:%a} {parsed.moment.day} {parsed.moment:%b %Y} (UTC)"
        return self.when(parsed.moment)


def _shown(value: str) -> str:
    value = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return f"“{md_text(value)}”"


def person_names(people: pd.DataFrame) -> dict[str, str]:
    names = dict(zip(people["user_id"], people["user_name"].fillna("(unnamed)")))
    counts = pd.Series(list(names.values())).value_counts()
    roles = dict(zip(people["user_id"], people["hierarchy_name"].fillna("")))
    # Two people with one name are told apart by their role, never silently merged.
    return {uid: f"{name} ({roles[uid]})" if counts[name] > 1 else name for uid, name in names.items()}


def clear_notices() -> None:
    st.session_state[_NOTICES] = []


def _read_url(load_options: LoadOptions, ctx: Context) -> None:
    """First run of a session: take the link's filters, and say which ones could not be used."""
    notices: list[str] = []
    raw = {key: st.query_params.get_all(key) for key in (*PARAMS, FROM)}

    def single(key: str) -> str | None:
        values = raw[key]
        if len(values) > 1:
            notices.append(f"The link gives {key} more than once; the default is shown.")
            return None
        return values[0] if values else None

    forecasts = load_options(None, None).forecasts
    forecast = single("forecast")
    if forecast is not None and forecast not in forecasts:
        notices.append(f"The link's forecast {_shown(forecast)} has no data here; "
                       f"showing {md_text(ctx.forecast_name(forecasts[0]))}.")
        forecast = None
    forecast = forecast or forecasts[0]
    periods = load_options(forecast, None).periods
    period = single("period")
    if period is not None and period not in periods:
        why = ("has no data for " + md_text(ctx.forecast_name(forecast)) if PERIOD_RE.fullmatch(period)
               else "is not a quarter shaped YYYY_QN")
        notices.append(f"The link's period {_shown(period)} {why}; showing {md_text(ctx.period_label(periods[0]))}.")
        period = None
    period = period or periods[0]
    people = load_options(forecast, period).people
    managers = set(people.loc[people["is_manager"], "user_id"])
    team = single("team")
    if team is not None and team not in managers:
        notices.append(f"The link's team {_shown(team)} is not a manager in {md_text(ctx.forecast_name(forecast))} "
                       f"{md_text(ctx.period_label(period))}; showing all teams.")
        team = None
    allowed = set(_rep_options(people, team))
    reps = [r for r in raw["rep"] if r in allowed]
    unknown = [r for r in raw["rep"] if r not in allowed]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        listed = ", ".join(_shown(r) for r in unknown[:3]) + more
        notices.append(f"The link's rep(s) {listed} are not reps of this selection and were left out.")
    as_of = single("as_of")
    if as_of is not None:
        parsed = ctx.parse_as_of(as_of)
        if isinstance(parsed, Notice):
            notices.append(md_text(parsed.message(ctx.when, ctx.latest)))
            as_of = None
        else:
            as_of = parsed.text
    start = single(FROM)
    if start is not None:
        parsed_start = parse_from(start)
        if isinstance(parsed_start, Notice):
            notices.append(md_text(parsed_start.message()))
            start = None
        else:
            start = parsed_start
    st.session_state.update({"forecast": forecast, "period": period, "team": team, "rep": list(dict.fromkeys(reps)),
                             "as_of": as_of, _FROM: start or DEFAULT_FROM})
    st.session_state[_NOTICES] = notices
    st.session_state[_READ_URL] = True


def _rep_options(people: pd.DataFrame, team: str | None) -> list[str]:
    reps = people[~people["is_manager"]]
    if team is None:
        return reps["user_id"].tolist()
    members = team_members(people, team)
    return [uid for uid in reps["user_id"] if uid in members]


def _keep_valid(key: str, options: list, default) -> None:
    """Reset a widget's state that the current options no longer hold (e.g. after a refresh)."""
    value = st.session_state.get(key, default)
    if key == "rep":
        value = [v for v in (value or []) if v in options]
    elif value not in options:
        value = default
    st.session_state[key] = value


def sidebar(load_options: LoadOptions, ctx: Context) -> tuple[Selection | None, list[str]]:
    """Draw the filters; returns the selection (None when there is no data yet) and URL notices.

    `load_options(forecast, period)` returns the `FilterOptions` (cached by the caller).
    """
    if not load_options(None, None).forecasts:
        return None, []
    if not st.session_state.get(_READ_URL):
        _read_url(load_options, ctx)

    side = st.sidebar
    forecasts = load_options(None, None).forecasts
    _keep_valid("forecast", forecasts, forecasts[0])
    forecast = side.selectbox("Forecast", forecasts, key="forecast", format_func=ctx.forecast_name,
                              on_change=clear_notices)

    periods = load_options(forecast, None).periods
    _keep_valid("period", periods, periods[0])
    period = side.selectbox("Period", periods, key="period", format_func=ctx.period_label, on_change=clear_notices)

    people = load_options(forecast, period).people
    names = person_names(people)
    managers = people.loc[people["is_manager"], "user_id"].tolist()
    _keep_valid("team", managers, None)
    team = side.selectbox("Team", managers, key="team", placeholder="All teams",
                          format_func=names.get, on_change=clear_notices,
                          help="A manager's team: their numbers are the roll-up of their reports.")

    rep_options = _rep_options(people, team)
    _keep_valid("rep", rep_options, [])
    reps = side.multiselect("Reps", rep_options, key="rep", format_func=names.get, placeholder="All reps",
                            on_change=clear_notices)
    as_of = _as_of_control(ctx, forecast, period)

    start = st.session_state.get(_FROM, DEFAULT_FROM)
    wanted = {"forecast": forecast if forecast != forecasts[0] else None,
              "period": period if period != periods[0] else None,
              "team": team, "rep": reps or None, "as_of": as_of.text if as_of else None,
              FROM: start if ctx.page_route == page("changes").route and start != DEFAULT_FROM else None}
    params = {k: v for k, v in wanted.items() if v}
    keys = (*PARAMS, FROM)
    if {k: st.query_params.get_all(k) for k in keys} != {k: _as_list(params.get(k)) for k in keys}:
        st.query_params.from_dict(params)
    return (Selection(forecast, period, team, tuple(reps), as_of=as_of.moment if as_of else None),
            st.session_state.get(_NOTICES, []))


def _as_of_control(ctx: Context, forecast: str, period: str) -> AsOf | None:
    """Pick a past export of the chosen forecast and period, or the end of any day since the first export."""
    exports = ctx.exports_of(forecast, period)
    options: list[str | None] = [None, *(as_of_of_export(t).text for t in exports["exported_at"])]
    current = st.session_state.get("as_of")
    if current and current not in options:
        options.insert(1, current)  # a date, or an export of another forecast or period
    _keep_valid("as_of", options, None)
    side = st.sidebar
    text = side.selectbox("As of", options, key="as_of", format_func=ctx.as_of_label, on_change=clear_notices,
                          placeholder="Latest data",
                          help="Show every page as it stood at a past export: numbers, charts, tables, banners "
                               "and changes. The link keeps it (as_of in the URL).")
    if ctx.first is not None:
        side.date_input("…or the end of a day (UTC)", value=None, key="_as_of_day", on_change=_pick_day,
                        min_value=ctx.first.date(), max_value=max(ctx.now.date(), ctx.first.date()),
                        format="YYYY-MM-DD")
    parsed = ctx.parse_as_of(text) if text else None
    return parsed if isinstance(parsed, AsOf) else None


def _pick_day() -> None:
    day: date | None = st.session_state.get("_as_of_day")
    if day is not None:
        st.session_state["as_of"] = as_of_of_day(day).text
        st.session_state["_as_of_day"] = None
        clear_notices()


def back_to_latest_link(page_path: str) -> str:
    """This view's address without `as_of`."""
    return share_link(page_path, without=("as_of",))


def waterfall_start() -> str:
    """The waterfall's start: `previous`, `week`, `quarter` or an ISO date (from the link or the control)."""
    return st.session_state.get(_FROM, DEFAULT_FROM)


def waterfall_start_control(when_label: Callable[[str], str], left, right) -> str:
    """The control for the start of the /changes waterfall, in two containers (a choice, a day);
    the choice goes into the URL as `from`."""
    start = waterfall_start()
    options = list(FROM_WORDS) + ([start] if start not in FROM_WORDS else [])
    st.session_state["_from_pick"] = start
    left.selectbox("Since", options, key="_from_pick", format_func=when_label, on_change=_pick_from,
                   args=("_from_pick",))
    right.date_input("…or since a day (UTC)", value=None, key="_from_day", on_change=_pick_from, args=("_from_day",),
                     format="YYYY-MM-DD")
    return waterfall_start()


def _pick_from(key: str) -> None:
    value = st.session_state.get(key)
    if isinstance(value, date):
        value = value.isoformat()
        st.session_state["_from_day"] = None
    if value:
        st.session_state[_FROM] = value


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def share_link(page_path: str, without: tuple[str, ...] = ()) -> str:
    """The full address of this view, to copy and send."""
    base = (st.context.url or "").rstrip("/")
    if base.endswith("/" + page_path) and page_path:
        base = base[: -len(page_path) - 1]
    query = urlencode([(k, v) for k in (*PARAMS, FROM) if k not in without for v in st.query_params.get_all(k)])
    path = f"{base}/{page_path}" if page_path else f"{base}/"
    return path + (f"?{query}" if query else "")
