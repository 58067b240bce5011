"""What every page shares: the header (title, freshness, link notices, alert banners), tables with
a CSV download, and the live refresh indicator."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clari_data.alerts import Alert
from clari_data.pages import page

from . import run
from .format import age, md_text
from .run import PageRun

_SEEN_RUNS = "_seen_runs"


def start(name: str) -> PageRun:
    """Header of the page of this name (`clari_data.pages`); stops the page when there is no data
    to show yet."""
    r = run.current()
    st.title(page(name).title)
    freshness(r)
    for notice in r.notices:
        st.warning(notice, icon=":material/link:")
    banners(r.alerts(), name)
    if r.sel is None:
        if r.refresh.running or r.refresh.progress is None:
            st.info("Loading the first data from "
                    + ("the built-in demo simulator" if r.settings.demo_mode else "Clari")
                    + ". The page updates by itself when it lands.", icon=":material/hourglass_top:")
        else:
            st.info(f"No data yet. Open **{page('data').title}** and press **Refresh now**.", icon=":material/info:")
        st.stop()
    return r


def freshness(r: PageRun) -> None:
    source = ("demo data (built-in Clari simulator; set a Clari API key to use your tenant)" if r.settings.demo_mode
              else f"Clari tenant at {r.settings.clari.base_url}")
    fresh_at = r.data_status.fresh_at
    if fresh_at is None:
        st.caption(f"No data loaded yet · source: {md_text(source)}")
        return
    st.caption(f"Data as of **{fresh_at:%Y-%m-%d %H:%M} UTC** ({age(fresh_at, r.now)}) · source: {md_text(source)}")


def banners(alerts: list[Alert], name: str) -> None:
    """Each firing rule as a banner: all of them on the Overview, else those of this page."""
    for alert in alerts:
        if name == "overview" or alert.page == name:
            error = alert.severity == "error"
            (st.error if error else st.warning)(md_text(alert.message),
                                                icon=":material/error:" if error else ":material/warning:")


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
    state = run.current().service.state()
    if state.runs_completed != st.session_state.get(_SEEN_RUNS, state.runs_completed):
        st.rerun()
    if state.running and state.progress is not None:
        p = state.progress
        step = f" ({p.step} of {p.steps})" if p.steps else ""
        st.info(f"Refreshing{step}: {md_text(p.message)}", icon=":material/sync:")


def remember_seen_runs(r: PageRun) -> None:
    st.session_state[_SEEN_RUNS] = r.refresh.runs_completed
