"""One script run of a page: settings, the refresh service, a read snapshot, the selection.

The refresh service is the process's: the one that refreshes ([server] role "all") or a replica's,
reading what the refresh worker publishes in the warehouse (role "web"); pages see one interface.

`app.py` builds the `PageRun` once per run and every page reads it with `current()`. All data a run
shows comes through one snapshot cursor, so a refresh committing mid-render cannot mix two exports.
Pages fetch their data with `cached(page_data.<page>, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import duckdb
import streamlit as st

from clari_data.alerting import alerts
from clari_data.read.analytics import DataStatus, Selection
from clari_data.runtime.scheduler import process_service
from clari_data.runtime.service import RefreshState, Service
from clari_data.shared import access
from clari_data.shared.config import ConfigError, Settings, load_settings
from clari_data.shared.timeutil import naive_utc, utc_now
from clari_data.storage.backends import Backend
from clari_data.storage.warehouse import Warehouse, WarehouseError

from .format import md_text, moment

_KEY = "_clari_page_run"
T = TypeVar("T")


@dataclass
class PageRun:
    settings: Settings
    service: Service
    cur: duckdb.DuckDBPyConnection
    data_status: DataStatus  # the warehouse's, read once per run
    refresh: RefreshState  # the refresh service's
    sel: Selection | None = None
    notices: list[str] = field(default_factory=list)
    sign_in: bool = False  # sign-in is configured ([auth] in secrets.toml)
    user_email: str | None = None  # the signed-in user, if any
    now: datetime = field(default_factory=utc_now)
    period_labels: dict[str, str] = field(default_factory=dict)  # "2026_Q4" -> "Q4 2026", read once per run

    @property
    def wh(self) -> Warehouse:
        return self.service.warehouse

    @property
    def version(self) -> int:
        return self.data_status.data_version

    @cached_property
    def clock(self) -> datetime:
        """Now on the clock the exports are on (naive UTC): in demo mode the simulator's, which the
        backfill and each refresh move on and which may run ahead of the wall."""
        wall = naive_utc(self.now)
        simulated = self.wh.demo_clock() if self.settings.demo_mode else None
        return max(wall, naive_utc(simulated)) if simulated else wall

    def when(self, exported_at: datetime | None) -> str:
        """An export's time as pages write it: demo times are the simulator's, and say so."""
        return moment(exported_at, simulated=self.settings.demo_mode)

    def forecast_name(self, forecast_id: str) -> str:
        return self.settings.clari.forecast_name(forecast_id)

    def period_label(self, time_period: str) -> str:
        # Widgets keep this as their format_func beyond the run: it must not read the run's state.
        return self.period_labels.get(time_period, time_period)

    def what(self) -> str:
        """The selection's forecast and period as people read them: "Net ARR · Q4 2026"."""
        return f"{self.forecast_name(self.sel.forecast_id)} · {self.period_label(self.sel.time_period)}"

    def alerts(self) -> list[alerts.Alert]:
        operational = alerts.operational_alerts(self.wh, self.settings, self.data_status, self.now, self.cur)
        data = [] if self.sel is None else cached(alerts.data_alerts, self.settings.alerts, self.settings.fields,
                                                  self.sel)
        return operational + data


def cached(fn: Callable[..., T], *args: Hashable) -> T:
    """`fn(warehouse, *args, cur=snapshot)` of this run, cached per function, warehouse, data
    version and arguments: a refresh that loads new data starts afresh, and every session shares
    the results of one version."""
    run = current()
    name = f"{fn.__module__}.{fn.__qualname__}"
    return _cached(name, run.wh.cache_token, run.version, args, fn, run.wh, run.cur)


@st.cache_data(max_entries=2000, show_spinner=False)
def _cached(name: str, token: str, version: int, args: tuple, _fn: Callable[..., Any], _wh: Warehouse, _cur) -> Any:
    return _fn(_wh, *args, cur=_cur)


def sign_in_configured() -> bool:
    """Whether Streamlit's OIDC sign-in is set up ([auth] in .streamlit/secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def signed_in_user_or_stop() -> str | None:
    """With sign-in configured, stops the run for a visitor until they sign in; returns the
    signed-in user's address as access rules compare it (None without sign-in, and None when the
    identity provider does not vouch for a plain address: `email_verified` sent and not true, or
    an address with non-ASCII look-alike characters). Runs before any configuration is read."""
    if not sign_in_configured():
        return None
    if not st.user.is_logged_in:
        st.title("Clari forecast dashboard")
        st.info("Sign in to see the forecast.", icon=":material/lock:")
        st.button("Sign in", type="primary", on_click=st.login)
        st.stop()
    claimed = st.user.get("email")
    email = access.verified_email(st.user)
    with st.sidebar:
        if email is None and claimed:
            st.caption(f"Signed in as {md_text(claimed)} (not a verified plain address: treated as unknown)")
        else:
            st.caption(f"Signed in as {md_text(claimed or 'an unnamed user')}")
        st.button("Sign out", on_click=st.logout)
    return email


def viewer_allowed_or_stop(settings: Settings, email: str | None) -> None:
    """`[access] view_allowed`: stops the run, before any data is read, for whoever may not see it."""
    decision = access.may_view(settings, sign_in=sign_in_configured(), email=email)
    if not decision.allowed:
        st.title("Clari forecast dashboard")
        st.error(md_text(decision.reason), icon=":material/block:")
        st.stop()


def settings_or_stop() -> Settings:
    try:
        settings = load_settings()
        Backend.from_settings(settings)  # the backend's own settings, refused before anything starts
        return settings
    except ConfigError as exc:
        st.error(f"**Configuration error:** {md_text(exc)}")
        st.stop()


def service_or_stop(settings: Settings) -> Service:
    if settings.server.role == "worker":
        st.error("**Configuration error:** [server] role \"worker\" is for `python -m clari_data worker`; a dashboard "
                 "runs as \"web\" (a replica beside the worker) or \"all\" (one process that refreshes itself).")
        st.stop()
    try:
        return process_service(settings)
    except WarehouseError as exc:
        st.error(f"**The warehouse cannot be opened.** {md_text(exc)}")
        st.button("Try again")
        st.stop()


def set_current(run: PageRun) -> None:
    st.session_state[_KEY] = run


def current() -> PageRun:
    return st.session_state[_KEY]
