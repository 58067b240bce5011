"""Pipeline coverage: open pipeline against remaining quota, by team and rep, and over the weeks."""

import streamlit as st

from clari_data import charts, page_data
from ui import page, run

r = page.start("coverage")
sel, target = r.sel, r.settings.alerts.coverage_min

st.caption(f"Coverage = open pipeline / remaining quota, with open pipeline = CRM pipeline − closed won and "
           f"remaining quota = quota − closed won; empty once the quota is met. Target line: {target:g}x.")
shown = run.cached(page_data.coverage, sel)
rows = shown.members

left, right = st.columns(2)
with left:
    st.plotly_chart(charts.coverage_by_person(shown.teams, target, "Coverage by team",
                                              "No managers in this selection."), key="coverage-teams")
with right:
    st.plotly_chart(charts.coverage_by_person(shown.reps, target, "Coverage by rep", "No reps in this selection."),
                    key="coverage-reps")
left, right = st.columns(2)
with left:
    st.plotly_chart(charts.pipeline_vs_remaining(rows), key="coverage-pipeline")
with right:
    st.plotly_chart(charts.coverage_trend(shown.weekly, target, f"Coverage over the weeks, {r.what()}"),
                    key="coverage-trend")

num = st.column_config.NumberColumn
page.table(rows, {
    "user_name": "Name", "manager": "Manager", "is_manager": st.column_config.CheckboxColumn("Manager row"),
    "quota_amount": num("Quota", format="dollar"), "closed_amount": num("Closed won", format="dollar"),
    "pipeline_amount": num("Pipeline", format="dollar"), "open_pipeline_amount": num("Open pipeline", format="dollar"),
    "remaining_quota_amount": num("Remaining quota", format="dollar"),
    "coverage_ratio": num("Coverage", format="%.2fx", help=f"Target {target:g}x"),
}, f"coverage-{sel.forecast_id}-{sel.time_period}.csv", ids=("user_id",))
