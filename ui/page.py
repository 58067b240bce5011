"""What every page shares: the header (title, freshness, the as-of banner, link notices, alert
banners), tables with a CSV download, and the live refresh indicator."""

from __future__ import annotations

import html
import re

import pandas as pd
import streamlit as st

from clari_data.alerting.alerts import Alert
from clari_data.read import analytics
from clari_data.shared.pages import page

from . import filters, run
from .format import DASH, age, csv_bytes, md_text
from .run import PageRun

_SEEN_RUNS = "_seen_runs"


def start(name: str) -> PageRun:
    """Header of the page of this name (`clari_data.shared.pages`); stops the page when there is no data
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

    The download is the only export offered (the table's own is off: `client.disableDataExport` in
    .streamlit/config.toml): its text cells are neutralised against spreadsheet formulas.
    Missing cells show a dash. `ids` are columns the CSV carries besides the shown ones (the ids
    behind shown names). With `as_of` the file name carries the moment the page is as of.
    """
    shown = df[[c for c in columns if c in df.columns]]
    st.dataframe(shown, column_config=columns, hide_index=True, width="stretch", placeholder=DASH,
                 **({"height": height} if height else {}))
    csv = df[[c for c in ids if c in df.columns and c not in shown.columns] + list(shown.columns)]
    file_name = csv_name(file_name) if as_of else file_name
    st.download_button(f"Download CSV ({len(shown)} rows)", csv_bytes(csv), file_name=file_name,
                       mime="text/csv", key=f"csv-{file_name}", on_click="ignore")


SHORTCUTS = 12  # direct-report shortcuts on a page: two rows of six, one screenful at most


def hierarchy(level: analytics.Level, people: pd.DataFrame, reps: tuple[str, ...] = (), *,
              worst_first: list[str] | None = None, key: str = "hierarchy") -> None:
    """Where the page stands in the hierarchy and the ways to move: the breadcrumb from the top
    (each step above the current one goes back up), shortcuts to at most `SHORTCUTS` sub-teams one
    level down (`worst_first`: the page's order of concern), and a search for any team or rep.
    Every move sets the sidebar's `team` and `rep`, so the URL holds the level and a shared link
    opens at it."""
    names = filters.person_names(people)
    roles = dict(zip(people["user_id"], people["hierarchy_name"].fillna("")))
    managers = dict(zip(people["user_id"], people["is_manager"].astype(bool)))
    bosses = dict(zip(people["user_id"], people["manager_user_id"]))

    def label(uid: str) -> str:
        name, role = names.get(uid, uid), roles.get(uid, "")
        return f"{name} ({role})" if role and role not in name else name

    trail = [uid for uid, _ in level.path] + list(reps)
    crumbs = st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"{key}-crumbs")
    for i, uid in enumerate(trail):
        if i:
            crumbs.markdown("›")
        if i == len(trail) - 1:
            crumbs.markdown(f"**{md_text(label(uid))}**")
        else:
            # The top is the default view: no team in the URL.
            crumbs.button(md_text(label(uid)), key=f"{key}-up-{i}", type="tertiary", on_click=_go_to_team,
                          args=(None if i == 0 else uid,))
    if reps:
        return
    sub_teams = [uid for uid in (worst_first or level.direct) if uid in set(level.direct) and managers.get(uid)]
    if sub_teams:
        shown = sub_teams[:SHORTCUTS]
        more = len(sub_teams) - len(shown)
        st.caption("Open a team one level down" + (f" (the {len(shown)} needing most attention; {more:,} more "
                                                    "through the search below):" if more else ":"))
        cols = st.columns(6)
        for i, uid in enumerate(shown):
            cols[i % 6].button(md_text(names.get(uid, uid)), key=f"{key}-down-{uid}", on_click=_go_to_team,
                               args=(uid,), width="stretch")
    everyone = [uid for uid in people["user_id"] if isinstance(bosses.get(uid), str)]
    st.selectbox("Find a person (manager or rep)", everyone, index=None, key=f"{key}-search", format_func=label,
                 placeholder=f"Type a name: any of {len(everyone):,} people",
                 on_change=_go_to_person, args=(f"{key}-search", managers, bosses),
                 help="A manager opens their team (their direct reports); a rep opens them within their team.")


SPREAD_FROM = 10  # reps below a level before their spread says more than the bars


def level_header(key: str, level: analytics.Level, rows: pd.DataFrame, direct: pd.DataFrame,
                 people: pd.DataFrame, reps: tuple[str, ...], worst_by: str,
                 table: str) -> tuple[str, pd.DataFrame, pd.DataFrame, bool]:
    """The breadcrumb and shortcuts of a per-person page, and the caption saying what its bars,
    spread and `table` hold. Returns the level's head (a name, not yet escaped), everyone below it,
    the reps below it, and whether the spread of those reps is drawn."""
    head_name = level.path[-1][1] if level.path else "the top"
    head = md_text(head_name)
    hierarchy(level, people, reps, key=key,
              worst_first=direct.sort_values(worst_by, na_position="last")["user_id"].tolist())
    below = level.below_rows(rows)
    reps_below = below[~below["is_manager"]]
    if reps:
        st.caption(f"The chosen rep(s): {len(rows):,} in the chart and the {table}.")
    else:
        st.caption(f"The bars are the **direct reports** of {head} ({len(direct):,}: sub-teams and reps); the spread "
                   f"is **every rep below** {head} ({len(reps_below):,}); the {table} is {head}'s own row and "
                   f"**everyone below** ({len(below):,} people).")
    return head_name, below, reps_below, not reps and len(reps_below) >= SPREAD_FROM


def _go_to_team(team: str | None) -> None:
    st.session_state["team"] = team
    st.session_state["rep"] = []
    filters.clear_notices()


def _go_to_person(key: str, managers: dict[str, bool], bosses: dict[str, object]) -> None:
    uid = st.session_state.get(key)
    st.session_state[key] = None
    if uid is None:
        return
    if managers.get(uid):
        _go_to_team(uid)
        return
    boss = bosses.get(uid)
    st.session_state["team"] = boss if isinstance(boss, str) and managers.get(boss) else None
    st.session_state["rep"] = [uid]
    filters.clear_notices()


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
