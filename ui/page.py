"""What every page shares: the header (title, freshness, the as-of banner, link notices, alert
banners), tables with a CSV download, and the live refresh indicator."""

from __future__ import annotations

import html
import re

import pandas as pd
import streamlit as st

from clari_data import analytics
from clari_data.alerts import Alert
from clari_data.pages import page

from . import filters, run
from .format import DASH, age, md_text
from .run import PageRun

_SEEN_RUNS = "_seen_runs"


def start(name: str) -> PageRun:
    """Header of the page of this name (`clari_data.pages`); stops the page when there is no data
    to show yet."""
    r = run.current()
    st.title(page(name).title)
    freshness(r, as_of=name != "data")
    if name != "data":
        as_of_banner(r, name)
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


def freshness(r: PageRun, as_of: bool = True) -> None:
    source = ("demo data (built-in Clari simulator; set a Clari API key to use your tenant)" if r.settings.demo_mode
              else f"Clari tenant at {r.settings.clari.base_url}")
    fresh_at = r.data_status.fresh_at
    if fresh_at is None:
        st.caption(f"No data loaded yet · source: {md_text(source)}")
        return
    if as_of and r.sel is not None and r.sel.as_of is not None:
        st.caption(f"Showing an earlier export (below); the latest data is from **{fresh_at:%Y-%m-%d %H:%M} UTC** "
                   f"({age(fresh_at, r.now)}) · source: {md_text(source)}")
        return
    st.caption(f"Data as of **{fresh_at:%Y-%m-%d %H:%M} UTC** ({age(fresh_at, r.now)}) · source: {md_text(source)}")


def as_of_banner(r: PageRun, name: str) -> None:
    """With `as_of`: which export the page shows, and the way back to the latest data. A selection
    with no export yet at that moment stops the page there."""
    if r.sel is None or r.sel.as_of is None:
        return
    sel = r.sel
    export = run.cached(analytics.export_at, sel.forecast_id, sel.time_period, sel.as_of)
    what = md_text(r.what())
    asked = md_text(st.session_state.get("as_of") or "")
    if export is None:
        st.warning(f"{what} had no export yet at `as_of` {asked}: nothing to show as of then. Pick a later "
                   "moment under **As of** in the sidebar.", icon=":material/history:")
        back_to_latest(name)
        st.stop()
    st.info(f"As of **{md_text(r.when(export.exported_at))}**: {what} as its export of that time showed it (the "
            f"latest at or before `as_of` {asked}). Every number, chart, table, banner and change on this page is of "
            "that moment.", icon=":material/history:")
    back_to_latest(name)


def back_to_latest(name: str) -> None:
    """A link to this very view without `as_of`. Markdown links open a new tab; this one replaces the
    page, and the new session reads the link like any shared one."""
    href = html.escape(filters.back_to_latest_link(page(name).route), quote=True)
    st.markdown(f'<a href="{href}" target="_self" data-testid="back-to-latest">Back to the latest data</a>',
                unsafe_allow_html=True)


def banners(alerts: list[Alert], name: str) -> None:
    """Each firing rule as a banner: all of them on the Overview, else those of this page."""
    r = run.current()
    for alert in alerts:
        if name == "overview" or alert.page == name:
            error = alert.severity == "error"
            (st.error if error else st.warning)(md_text(readable(alert.message, r)),
                                                icon=":material/error:" if error else ":material/warning:")


def readable(message: str, r: PageRun) -> str:
    """A rule's message with the forecast and period ids it names written as people read them (the
    rules speak in ids, which the notifications' links need)."""
    names = {**r.period_labels, **{f: r.forecast_name(f) for f in r.settings.clari.forecast_ids}}
    if not names:
        return message
    pattern = re.compile(r"(?<![\w/])(" + "|".join(re.escape(i) for i in sorted(names, key=len, reverse=True))
                         + r")(?![\w/])")
    return pattern.sub(lambda m: names[m.group(1)], message)


def table(df: pd.DataFrame, columns: dict[str, object], file_name: str, *, height: int | None = None,
          ids: tuple[str, ...] = (), as_of: bool = True) -> None:
    """A formatted table of the given columns (label or column_config each) and its CSV download.

    Missing cells show a dash. `ids` are columns the CSV carries besides the shown ones (the ids
    behind shown names). With `as_of` the file name carries the moment the page is as of.
    """
    shown = df[[c for c in columns if c in df.columns]]
    st.dataframe(shown, column_config=columns, hide_index=True, width="stretch", placeholder=DASH,
                 **({"height": height} if height else {}))
    csv = df[[c for c in ids if c in df.columns and c not in shown.columns] + list(shown.columns)]
    file_name = csv_name(file_name) if as_of else file_name
    st.download_button(f"Download CSV ({len(shown)} rows)", csv.to_csv(index=False).encode(), file_name=file_name,
                       mime="text/csv", key=f"csv-{file_name}", on_click="ignore")


def csv_name(file_name: str) -> str:
    """`changes.csv` -> `changes-as-of-2026-11-23T1400.csv` when the page is as of a past moment."""
    r = run.current()
    if r.sel is None or r.sel.as_of is None:
        return file_name
    stem, dot, ext = file_name.rpartition(".")
    moment = f"as-of-{r.sel.as_of:%Y-%m-%dT%H%M}"
    return f"{stem}-{moment}.{ext}" if dot else f"{file_name}-{moment}"


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
        st.info(f"Refreshing{step}: {md_text(readable(p.message, run.current()))}", icon=":material/sync:")


def remember_seen_runs(r: PageRun) -> None:
    st.session_state[_SEEN_RUNS] = r.refresh.runs_completed
