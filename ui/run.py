"""The view of one script run: settings, the refresh service, a read snapshot, the selection.

`app.py` builds it once per run and every page reads it with `current()`. All data a run shows
comes through one snapshot cursor, so a refresh committing mid-render cannot mix two exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb
import streamlit as st

from clari_data import alerts, analytics
from clari_data.analytics import Selection
from clari_data.config import ConfigError, Settings, load_settings
from clari_data.scheduler import RefreshService, ServiceState, process_service
from clari_data.warehouse import Warehouse, WarehouseError

from .format import md_text

_KEY = "_clari_view"


@dataclass
class View:
    settings: Settings
    service: RefreshService
    cur: duckdb.DuckDBPyConnection
    status: analytics.Status
    state: ServiceState
    sel: Selection | None = None
    notices: list[str] = field(default_factory=list)
    sign_in: bool = False  # sign-in is configured ([auth] in secrets.toml)
    user_email: str | None = None  # the signed-in user, if any
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def wh(self) -> Warehouse:
        return self.service.warehouse

    @property
    def version(self) -> int:
        return self.status.data_version

    def load(self, name: str, *args: Any) -> Any:
        """analytics.<name>(warehouse, *args), cached per data version and arguments."""
        return _cached(name, self.wh.cache_token, self.version, args, self.wh, self.cur)

    def alerts(self) -> list[alerts.Alert]:
        operational = alerts.operational_alerts(self.wh, self.settings, self.status, self.now, self.cur)
        data = [] if self.sel is None else _cached_data_alerts(
            self.wh.cache_token, self.version, self.sel, self.settings.alerts, self.settings.fields, self.wh, self.cur)
        return operational + data


@st.cache_data(max_entries=2000, show_spinner=False)
def _cached(name: str, token: str, version: int, args: tuple, _wh: Warehouse, _cur) -> Any:
    return getattr(analytics, name)(_wh, *args, cur=_cur)


@st.cache_data(max_entries=500, show_spinner=False)
def _cached_data_alerts(token: str, version: int, sel: Selection, thresholds, roles, _wh: Warehouse, _cur):
    return alerts.data_alerts(_wh, thresholds, roles, sel, _cur)


def sign_in_configured() -> bool:
    """Whether Streamlit's OIDC sign-in is set up ([auth] in .streamlit/secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def signed_in_user_or_stop() -> str | None:
    """With sign-in configured, stops the run for a visitor until they sign in; returns the
    signed-in user's e-mail (None without sign-in)."""
    if not sign_in_configured():
        return None
    if not st.user.is_logged_in:
        st.title("Clari forecast dashboard")
        st.info("Sign in to see the forecast.", icon=":material/lock:")
        st.button("Sign in", type="primary", on_click=st.login)
        st.stop()
    email = st.user.get("email")
    with st.sidebar:
        st.caption(f"Signed in as {md_text(email or 'an unnamed user')}")
        st.button("Sign out", on_click=st.logout)
    return email


def settings_or_stop() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        st.error(f"**Configuration error:** {md_text(exc)}")
        st.stop()


def service_or_stop(settings: Settings) -> RefreshService:
    try:
        return process_service(settings)
    except WarehouseError as exc:
        st.error(f"**The warehouse cannot be opened.** {md_text(exc)}")
        st.button("Try again")
        st.stop()


def set_current(view: View) -> None:
    st.session_state[_KEY] = view


def current() -> View:
    return st.session_state[_KEY]
