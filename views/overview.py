"""Overview: the selection's headline numbers with their changes, pacing against past quarters,
every active alert, freshness."""

import re

import streamlit as st

from clari_data.read import charts, page_data
from ui import page, run
from ui.format import md_text, money, money_change, percent, points_change, ratio, ratio_change, week_label

r = page.start("overview")
sel, target = r.sel, r.settings.alerts

shown = run.cached(page_data.overview, sel)
head, previous, week_ago = shown.headline, shown.previous, shown.week_ago
st.subheader(md_text(r.what()), anchor=False)


def change(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else now - then


# label, value of a headline, how it is written, how its change is written, colour of a rise, help
METRICS = [
    ("Quota", lambda h: h.quota, money, money_change, "off", None),
    ("Closed won", lambda h: h.closed, money, money_change, "normal", None),
    ("Gap to quota", lambda h: h.remaining_quota, money, money_change, "inverse",
     "Quota − closed won: what is left to close. Lower is better."),
    ("Attainment", lambda h: h.attainment_pct, percent, points_change, "normal", "Closed won / quota."),
    ("Commit", lambda h: h.commit, money, money_change, "normal",
     "The commit call; a manager's adjustment wins where there is one."),
    ("Best case", lambda h: h.best_case, money, money_change, "normal", None),
    ("Open pipeline", lambda h: h.open_pipeline, money, money_change, "normal", "CRM pipeline − closed won."),
    ("Coverage", lambda h: h.coverage, ratio, ratio_change, "normal",
     f"Open pipeline / remaining quota. Target {target.coverage_min:g}x."),
]


def delta_shown(write, value: float):
    # A change that shows as zero ("-0.00x") is passed as the number 0: grey, without an arrow.
    shown = write(value)
    return shown if re.search(r"[1-9]", shown) else 0


def week_ago_help(value_of, write_change) -> str:
    if week_ago is None or shown.week_ago_export is None:
        return "No export 7 days before this one yet."
    moved = change(value_of(head), value_of(week_ago))
    shown_change = "no change" if moved == 0 else write_change(moved) if moved is not None else "–"
    return f"Against 7 days before (the export of {r.when(shown.week_ago_export.exported_at)}): {shown_change}."


since = "vs. previous export"
rows = [st.columns(4), st.columns(4)]
for i, (label, value_of, write, write_change, colour, about) in enumerate(METRICS):
    value = value_of(head)
    moved = change(value, value_of(previous)) if previous is not None else None
    help_text = " ".join(t for t in (about, week_ago_help(value_of, write_change)) if t)
    rows[i // 4][i % 4].metric(label, write(value), delta=None if moved is None else delta_shown(write_change, moved),
                               delta_color=colour, help=help_text, delta_description=None if moved is None else since)

weekly = shown.weekly
latest_week = week_label(weekly["start_date"].iloc[-1]) if "start_date" in weekly.columns and not weekly.empty else "–"
# Managers' numbers are their teams' roll-ups: the headline is the chosen reps, else the chosen
# team's manager, else the top of the hierarchy, never a mix.
who = (f"the {head.users} chosen rep{'s' if head.users != 1 else ''}" if sel.reps
       else "the chosen team (its manager's roll-up)" if sel.team
       else "the whole organisation (the roll-up at the top of the hierarchy"
       + (f", {head.users} people)" if head.users != 1 else ")"))
st.caption(f"Numbers of {who}; latest week: {latest_week}. Changes are against the previous export"
           + (f" ({r.when(shown.previous_export.exported_at)})" if shown.previous_export else ", when there is one")
           + "; hover over a number for the change over 7 days.")

st.subheader("Pacing", anchor=False)
pace = run.cached(page_data.pacing, sel)
earlier = pace.weeks.loc[pace.weeks["period"] != sel.time_period, "period"].nunique() if not pace.weeks.empty else 0
if pace.points_vs_average is not None and pace.week_number is not None:
    side = "ahead of" if pace.points_vs_average >= 0 else "behind"
    st.markdown(f"**{abs(pace.points_vs_average):.1f} points {side} the {earlier}-quarter average at week "
                f"{pace.week_number}** (closed won as a share of quota, at the same week of each quarter).")
elif earlier == 0:
    st.caption("No earlier quarter is loaded yet to pace against.")
against = f" against the {earlier} quarter{'s' if earlier > 1 else ''} before" if earlier else ""
st.plotly_chart(charts.pacing(pace.weeks, pace.average, sel.time_period,
                              f"Closed won / quota by week of quarter, {r.period_label(sel.time_period)}{against}"),
                key="overview-pacing")

st.plotly_chart(charts.forecast_trend(weekly, f"Forecast by week, {r.period_label(sel.time_period)}"),
                key="overview-trend")
