"""Forecast accuracy: how good the commit call was at each week of ended periods."""

import streamlit as st

from clari_data import alerts, analytics, charts
from clari_data.analytics import Selection
from ui import page
from ui.format import md_text

v = page.start("Forecast accuracy", "accuracy")
sel, target = v.sel, v.settings.alerts.accuracy_min_pct

period = alerts.accuracy_period(v.wh, sel, v.cur)
st.markdown(
    "**Accuracy** of a call = 100 × (1 − |forecast − actual| / |actual|); **bias** = 100 × (forecast − actual) / |actual|, "
    "where *forecast* is the commit call taken in that week (a manager's adjustment wins) and *actual* is closed won "
    "at the period's end. Several people together: 100 × (1 − Σ|F − A| / Σ|A|) (WAPE) and 100 × (ΣF − ΣA) / Σ|A|."
)
if period is None:
    st.info("No ended period has been loaded yet: accuracy needs a quarter whose final closed amount is known.")
    st.stop()
if period != sel.time_period:
    st.info(f"{md_text(sel.time_period)} has not ended, so its actual is not known yet; showing {md_text(period)}, "
            "the latest ended period.")
rows = v.load("accuracy_members", Selection(sel.forecast_id, period, sel.team, sel.reps))
weekly = analytics.accuracy_by_week(rows)
st.plotly_chart(charts.accuracy_by_week(weekly, target, f"Accuracy of the commit call by week, {period}"),
                key="accuracy-by-week")

summary = analytics.accuracy_summary(rows)
teams, reps = summary[summary["is_manager"]], summary[~summary["is_manager"]]
num = st.column_config.NumberColumn
columns = {
    "user_name": "Name", "manager": "Manager",
    "mean_accuracy_pct": num("Mean accuracy", format="%.1f%%", help=f"Target {target:g}%"),
    "mean_bias_pct": num("Mean bias", format="%+.1f%%"),
    "actual_amount": num("Actual (closed won)", format="dollar"), "weeks": num("Weeks"),
}
left, right = st.columns(2)
with left:
    st.subheader("Teams", anchor=False)
    page.table(teams, columns, f"accuracy-teams-{period}.csv")
with right:
    st.subheader("Reps", anchor=False)
    page.table(reps, columns, f"accuracy-reps-{period}.csv")

st.subheader("Accuracy by week, per person", anchor=False)
pivot = rows.pivot_table(index="user_name", columns="week_number", values="accuracy_pct", aggfunc="mean")
pivot.columns = [f"W{c}" for c in pivot.columns]
page.table(pivot.reset_index(), {"user_name": "Name", **{c: num(c, format="%.0f%%") for c in pivot.columns}},
           f"accuracy-by-week-{period}.csv")
