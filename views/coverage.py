"""Pipeline coverage: open pipeline against remaining quota for the direct reports of the level
shown, its spread over every rep below, and the weekly trend."""

import streamlit as st

from clari_data.read import charts, page_data
from ui import page, run

r = page.start("coverage")
sel, target = r.sel, r.settings.alerts.coverage_min

st.caption(f"Coverage = open pipeline / remaining quota, with open pipeline = CRM pipeline − closed won and "
           f"remaining quota = quota − closed won; empty once the quota is met. Target line: {target:g}x.")
shown = run.cached(page_data.coverage, sel)
people = run.cached(page_data.filter_options, sel.forecast_id, sel.time_period).people
level, rows = shown.level, shown.members
direct = shown.direct
head_name, below, reps_below, spread = page.level_header("coverage", level, rows, direct, people, sel.reps,
                                                       "coverage_ratio", "table")
left, right = st.columns(2) if spread else (st.container(), None)
with left:
    st.plotly_chart(charts.coverage_by_person(
        direct, target, "Coverage of the chosen reps" if sel.reps else f"Coverage by direct report of {head_name}",
        "No one reports to this level."), key="coverage-direct")
if right is not None:
    with right:
        st.plotly_chart(charts.distribution(reps_below["coverage_ratio"], target,
                                            title=f"Coverage of every rep below {head_name}",
                                            axis="Open pipeline / remaining quota", unit="x", bin_width=0.25, cap=6.0,
                                            nobody="No rep below this level has quota left to cover."),
                        key="coverage-spread")
left, right = st.columns(2)
with left:
    st.plotly_chart(charts.pipeline_vs_remaining(direct, f"Open pipeline against quota left, direct reports of "
                                                         f"{head_name}"), key="coverage-pipeline")
with right:
    st.plotly_chart(charts.coverage_trend(shown.weekly, target, f"Coverage over the weeks, {r.what()}"),
                    key="coverage-trend")

num = st.column_config.NumberColumn
st.subheader("Everyone below", anchor=False)
page.table(rows.sort_values("coverage_ratio", na_position="last"), {
    "user_name": "Name", "manager": "Manager", "is_manager": st.column_config.CheckboxColumn("Manager row"),
    "quota_amount": num("Quota", format="dollar"), "closed_amount": num("Closed won", format="dollar"),
    "pipeline_amount": num("Pipeline", format="dollar"), "open_pipeline_amount": num("Open pipeline", format="dollar"),
    "remaining_quota_amount": num("Remaining quota", format="dollar"),
    "coverage_ratio": num("Coverage", format="%.2fx", help=f"Target {target:g}x"),
}, f"coverage-{sel.forecast_id}-{sel.time_period}.csv", ids=("user_id",))
