"""Rep performance: the leaderboard, and drill-down from a team to its reps."""

import streamlit as st

from clari_data import charts, page_data
from ui import page, run
from ui.format import md_text

r = page.start("reps")
sel, cfg = r.sel, r.settings.alerts
shown = run.cached(page_data.reps, sel)
rows, people = shown.members, shown.people
names = dict(zip(people["user_id"], people["user_name"]))


def drill(team: str | None) -> None:
    st.session_state["team"] = team
    st.session_state["rep"] = []


managers = rows[rows["is_manager"] & (rows["user_id"] != sel.team)]  # the teams one can open from here
if sel.team:
    parent = people.loc[people["user_id"] == sel.team, "manager_user_id"].iloc[0]
    up = parent if isinstance(parent, str) else None
    st.button(f"⬆ Up to {md_text(names.get(up, 'all teams'))}", on_click=drill, args=(up,))
if not managers.empty and not sel.reps:
    st.caption("Drill down: open a team to see its reps.")
    cols = st.columns(min(len(managers), 6))
    for i, row in enumerate(managers.itertuples()):
        cols[i % len(cols)].button(str(row.user_name), key=f"drill-{row.user_id}", on_click=drill, args=(row.user_id,),
                                   width="stretch")

st.plotly_chart(charts.attainment_by_person(rows[~rows["is_manager"]] if sel.team is None else rows),
                key="reps-attainment")

num = st.column_config.NumberColumn
STATUS = {"at_risk": "At risk", "watch": "Watch", "on_track": "On track"}
rows = rows.assign(status=rows["status"].map(STATUS).fillna(rows["status"]))
updated = int(rows.loc[~rows["is_manager"], "is_updated"].sum())
total = int((~rows["is_manager"]).sum())
st.caption(f"{updated} of {total} reps updated their call this week. Status: at risk below "
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
