"""Overview: the selection's headline numbers for the period, every active alert, freshness."""

import streamlit as st

from clari_data import charts, page_data
from ui import page, run
from ui.format import money, percent, ratio

r = page.start("overview")
sel, target = r.sel, r.settings.alerts

shown = run.cached(page_data.overview, sel)
head = shown.headline
st.subheader(f"{sel.forecast_id} · {sel.time_period}", anchor=False)
cols = st.columns(6)
cols[0].metric("Quota", money(head.quota))
cols[1].metric("Closed won", money(head.closed))
cols[2].metric("Commit", money(head.commit), help="The commit call; a manager's adjustment wins where there is one.")
cols[3].metric("Best case", money(head.best_case))
cols[4].metric("Coverage", ratio(head.coverage), help="Open pipeline / remaining quota. Target "
               f"{target.coverage_min:g}x.")
cols[5].metric("Attainment", percent(head.attainment_pct), help="Closed won / quota.")
st.caption(f"{head.users} {'person' if head.users == 1 else 'people'} summed "
           "(the chosen reps, else the chosen team's manager, else the top of the hierarchy); "
           f"latest week {head.week or '–'}.")

st.plotly_chart(charts.forecast_trend(shown.weekly), key="overview-trend")
