"""The sidebar filters and their two-way binding to the URL.

`forecast`, `period`, `team` and `rep` (repeated) are the public query parameters. The URL is read
once, when a session starts (a link was opened); from then on the session's widget state is the
truth and every run writes it back to the URL, defaults left out, so the address bar always shows
the view. Values are user and manager *ids*: Streamlit's own `bind="query-params"` would put the
display names in the URL, which are neither unique nor stable.

A value the data does not know gives a visible notice and the default; it never raises, and it
only ever reaches SQL as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from clari_data.analytics import Selection, team_members
from clari_data.config import PERIOD_RE
from clari_data.page_data import FilterOptions

from .format import md_text

PARAMS = ("forecast", "period", "team", "rep")
_READ_URL = "_filters_read_url"
_NOTICES = "_filters_notices"
_SHOWN = 40

LoadOptions = Callable[[str | None, str | None], FilterOptions]


def _shown(value: str) -> str:
    value = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return f"“{md_text(value)}”"


def _names(people: pd.DataFrame) -> dict[str, str]:
    names = dict(zip(people["user_id"], people["user_name"].fillna("(unnamed)")))
    counts = pd.Series(list(names.values())).value_counts()
    roles = dict(zip(people["user_id"], people["hierarchy_name"].fillna("")))
    # Two people with one name are told apart by their role, never silently merged.
    return {uid: f"{name} ({roles[uid]})" if counts[name] > 1 else name for uid, name in names.items()}


def _clear_notices() -> None:
    st.session_state[_NOTICES] = []


def _read_url(load_options: LoadOptions) -> None:
    """First run of a session: take the link's filters, and say which ones could not be used."""
    notices: list[str] = []
    raw = {key: st.query_params.get_all(key) for key in PARAMS}

    def single(key: str) -> str | None:
        values = raw[key]
        if len(values) > 1:
            notices.append(f"The link gives {key} more than once; the default is shown.")
            return None
        return values[0] if values else None

    forecasts = load_options(None, None).forecasts
    forecast = single("forecast")
    if forecast is not None and forecast not in forecasts:
        notices.append(f"The link's forecast {_shown(forecast)} has no data here; showing {md_text(forecasts[0])}.")
        forecast = None
    forecast = forecast or forecasts[0]
    periods = load_options(forecast, None).periods
    period = single("period")
    if period is not None and period not in periods:
        why = ("has no data for " + md_text(forecast) if PERIOD_RE.fullmatch(period)
               else "is not a quarter shaped YYYY_QN")
        notices.append(f"The link's period {_shown(period)} {why}; showing {md_text(periods[0])}.")
        period = None
    period = period or periods[0]
    people = load_options(forecast, period).people
    managers = set(people.loc[people["is_manager"], "user_id"])
    team = single("team")
    if team is not None and team not in managers:
        notices.append(f"The link's team {_shown(team)} is not a manager in {md_text(forecast)} {md_text(period)}; "
                       "showing all teams.")
        team = None
    allowed = set(_rep_options(people, team))
    reps = [r for r in raw["rep"] if r in allowed]
    unknown = [r for r in raw["rep"] if r not in allowed]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        listed = ", ".join(_shown(r) for r in unknown[:3]) + more
        notices.append(f"The link's rep(s) {listed} are not reps of this selection and were left out.")
    st.session_state.update({"forecast": forecast, "period": period, "team": team, "rep": list(dict.fromkeys(reps))})
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


def sidebar(load_options: LoadOptions) -> tuple[Selection | None, list[str]]:
    """Draw the filters; returns the selection (None when there is no data yet) and URL notices.

    `load_options(forecast, period)` returns the `FilterOptions` (cached by the caller).
    """
    if not load_options(None, None).forecasts:
        return None, []
    if not st.session_state.get(_READ_URL):
        _read_url(load_options)

    side = st.sidebar
    forecasts = load_options(None, None).forecasts
    _keep_valid("forecast", forecasts, forecasts[0])
    forecast = side.selectbox("Forecast", forecasts, key="forecast", on_change=_clear_notices)

    periods = load_options(forecast, None).periods
    _keep_valid("period", periods, periods[0])
    period = side.selectbox("Period", periods, key="period", on_change=_clear_notices)

    people = load_options(forecast, period).people
    names = _names(people)
    managers = people.loc[people["is_manager"], "user_id"].tolist()
    _keep_valid("team", managers, None)
    team = side.selectbox("Team", managers, key="team", placeholder="All teams",
                          format_func=names.get, on_change=_clear_notices,
                          help="A manager's team: their numbers are the roll-up of their reports.")

    rep_options = _rep_options(people, team)
    _keep_valid("rep", rep_options, [])
    reps = side.multiselect("Reps", rep_options, key="rep", format_func=names.get, placeholder="All reps",
                            on_change=_clear_notices)

    wanted = {"forecast": forecast if forecast != forecasts[0] else None,
              "period": period if period != periods[0] else None,
              "team": team, "rep": reps or None}
    params = {k: v for k, v in wanted.items() if v}
    if {k: st.query_params.get_all(k) for k in PARAMS} != {k: _as_list(params.get(k)) for k in PARAMS}:
        st.query_params.from_dict(params)
    return Selection(forecast, period, team, tuple(reps)), st.session_state.get(_NOTICES, [])


def _as_list(value) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def share_link(page_path: str) -> str:
    """The full address of this view, to copy and send."""
    base = (st.context.url or "").rstrip("/")
    if base.endswith("/" + page_path) and page_path:
        base = base[: -len(page_path) - 1]
    query = urlencode([(k, v) for k in PARAMS for v in st.query_params.get_all(k)])
    path = f"{base}/{page_path}" if page_path else f"{base}/"
    return path + (f"?{query}" if query else "")
