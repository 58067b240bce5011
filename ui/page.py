"""What every page shares: the header (title, freshness, link notices, alert banners), tables with
a CSV download, and the live refresh indicator."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clari_data.alerts import Alert

from . import view as view_module
from .format import age, md_text
from .view import View

_SEEN_RUNS = "_seen_runs"


def start(title: str, page: str) -> View:
    """Header of a page; stops the page when there is no data to show yet."""
    v = view_module.current()
    st.title(title)
    freshness(v)
    for notice in v.notices:
        st.warning(notice, icon=":material/link:")
    banners(v.alerts(), page)
    if v.sel is None:
        if v.state.running or v.state.progress is None:
            st.info("Loading the first data from "
                    + ("the built-in demo simulator" if v.settings.demo_mode else "Clari")
                    + ". The page updates by itself when it lands.", icon=":material/hourglass_top:")
        else:
            st.info("No data yet. Open **Data & refresh** and press **Refresh now**.", icon=":material/info:")
        st.stop()
    return v


def freshness(v: View) -> None:
    source = ("demo data (built-in Clari simulator; set a Clari API key to use your tenant)" if v.settings.demo_mode
              else f"Clari tenant at {v.settings.clari.base_url}")
    if v.status.fresh_at is None:
        st.caption(f"No data loaded yet · source: {md_text(source)}")
        return
    st.caption(f"Data as of **{v.status.fresh_at:%Y-%m-%d %H:%M} UTC** ({age(v.status.fresh_at, v.now)}) "
               f"· source: {md_text(source)}")


def banners(alerts: list[Alert], page: str) -> None:
    """Each firing rule as a banner: all of them on the Overview, else those of this page."""
    for alert in alerts:
        if page == "overview" or alert.page == page:
            (st.error if alert.severity == "error" else st.warning)(md_text(alert.message),
                                                                   icon=":material/error:" if alert.severity == "error" else ":material/warning:")


def table(df: pd.DataFrame, columns: dict[str, object], file_name: str, *, height: int | None = None) -> None:
    """A formatted table of the given columns (label or column_config each) and its CSV download."""
    shown = df[[c for c in columns if c in df.columns]]
    st.dataframe(shown, column_config=columns, hide_index=True, width="stretch",
                 **({"height": height} if height else {}))
    st.download_button(f"Download CSV ({len(shown)} rows)", shown.to_csv(index=False).encode(), file_name=file_name,
                       mime="text/csv", key=f"csv-{file_name}", on_click="ignore")


@st.fragment(run_every="2s")
def live_refresh_indicator() -> None:
    """Shows a running refresh's stage to every session, and moves the page to new data when a
    refresh finishes, without a reload."""
    v = view_module.current()
    state = v.service.state()
    if state.runs_completed != st.session_state.get(_SEEN_RUNS, state.runs_completed):
        st.rerun()
    if state.running and state.progress is not None:
        p = state.progress
        step = f" ({p.step} of {p.steps})" if p.steps else ""
        st.info(f"Refreshing{step}: {md_text(p.message)}", icon=":material/sync:")


def remember_seen_runs(v: View) -> None:
    st.session_state[_SEEN_RUNS] = v.state.runs_completed
