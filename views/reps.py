"""Rep performance: the direct reports of the level shown, worst first, the spread of attainment
over every rep below, and the leaderboard of everyone below; drill down a level at a time."""

import streamlit as st

from clari_data.read import charts, page_data
from ui import page, run

r = page.start("reps")
sel, cfg = r.sel, r.settings.alerts
shown = run.cached(page_data.reps, sel)
level, rows, people = shown.level, shown.members, shown.people
direct = shown.direct
head_name, below, reps_below, spread = page.level_header("reps", level, rows, direct, people, sel.reps,
                                                       "attainment_pct", "leaderboard")
left, right = st.columns(2) if spread else (st.container(), None)
with left:
    st.plotly_chart(charts.attainment_by_person(
        direct, "Quota attainment of the chosen reps" if sel.reps else f"Quota attainment by direct report of "
                                                                         f"{head_name}"), key="reps-attainment")
if right is not None:
    with right:
        st.plotly_chart(charts.distribution(reps_below["forecast_to_quota_pct"], cfg.on_track_from_pct,
                                            title=f"Commit / quota of every rep below {head_name}",
                                            axis="Commit / quota (on track from the line)", unit="%", bin_width=10,
                                            cap=200, nobody="No rep below this level has a quota.",
                                            risk_below=cfg.at_risk_below_pct),
                        key="reps-spread")

num = st.column_config.NumberColumn
STATUS = {"at_risk": "At risk", "watch": "Watch", "on_track": "On track"}
rows = rows.assign(status=rows["status"].map(STATUS).fillna(rows["status"]))
updated = int(reps_below["is_updated"].sum())
st.caption(f"{updated:,} of {len(reps_below):,} reps updated their call this week. Status: at risk below "
           f"{cfg.at_risk_below_pct:g}% commit-to-quota, on track at {cfg.on_track_from_pct:g}% or more, "
           "watch between.")
page.table(rows, {
    "user_name": "Name", "manager": "Manager", "is_manager": st.column_config.CheckboxColumn("Manager row"),
    "attainment_pct": st.column_config.ProgressColumn("Attainment", format="%.0f%%", min_value=0, max_value=150),
    "forecast_to_quota_pct": num("Commit / quota", format="%.0f%%"), "status": "Status",
    "quota_amount": num("Quota", format="dollar"), "closed_amount": num("Closed won", format="dollar"),
    "forecast_amount": num("Commit", format="dollar"),
    "is_updated": st.column_config.CheckboxColumn("Call updated this week"),
    "adjustment_delta": num("Manager override", format="dollar", help="Manager's adjustment minus the rep's own call"),
}, f"reps-{sel.forecast_id}-{sel.time_period}.csv", ids=("user_id",))
