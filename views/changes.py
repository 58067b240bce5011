"""Recent changes: what moved the number from a start point to now (or to `as_of`), person by
person, as a waterfall over the table of every move; then who moved by at least the thresholds
since the previous export and over the last week."""

from datetime import date

import streamlit as st

from clari_data.read import charts, page_data
from ui import filters, page, run
from ui.format import day_month, md_text, money_full

r = page.start("changes")
sel, cfg = r.sel, r.settings.alerts

FIELDS = {"commit": "Commit", "best_case": "Best case", "pipeline": "Pipeline", "closed": "Closed won"}
STARTS = {"previous": "The previous export", "week": "The start of this week (Monday)",
          "quarter": "The start of the quarter"}
num = st.column_config.NumberColumn


def start_label(start: str) -> str:
    if start in STARTS:
        return STARTS[start]
    day = date.fromisoformat(start)
    return f"{day:%a} {day.day} {day:%b %Y}"


st.subheader("What moved", anchor=False)
since, day, number = st.columns([2, 1.2, 1.5])
start = filters.waterfall_start_control(start_label, since, day)
field = number.selectbox("Number", page_data.WATERFALL_FIELDS, format_func=FIELDS.get, key="waterfall-field")
fall = run.cached(page_data.waterfall, sel, start, field)
people = "reps of the chosen team" if sel.team else "managers at the top of the hierarchy"
if fall.start is None or fall.end is None:
    st.info(f"No earlier export of {md_text(r.what())} to start from (since: {md_text(start_label(start))}). "
            "The waterfall appears once there is one: pick another start, or wait for the next refresh.",
            icon=":material/info:")
else:
    to = "the one shown as of" if sel.as_of is not None else "the latest"
    st.caption(f"{FIELDS[field]} of {md_text(r.what())} from the export of {md_text(r.when(fall.start.exported_at))} "
               f"to {to}, of {md_text(r.when(fall.end.exported_at))}: each of the biggest moves by person "
               f"({people}), then everyone else's together.")
    st.plotly_chart(charts.waterfall(fall.start_total, fall.steps, fall.others_amount, fall.end_total,
                                     start_label=f"Start, {day_month(fall.start.exported_at)}",
                                     end_label=f"End, {day_month(fall.end.exported_at)}", field_name=FIELDS[field],
                                     title=f"What moved {FIELDS[field].lower()}, {r.what()}"),
                    key="changes-waterfall")
    page.table(fall.moves, {
        "user_name": "Name", "is_manager": st.column_config.CheckboxColumn("Manager"),
        "start_amount": num("At the start", format="dollar"), "end_amount": num("At the end", format="dollar"),
        "change_amount": num("Change", format="dollar"),
    }, f"moves-{field}-since-{start}-{sel.forecast_id}-{sel.time_period}.csv", ids=("user_id",))

st.subheader("Moves at or above the thresholds", anchor=False)
left, right, _ = st.columns([1, 1, 2])
pct = left.number_input("Threshold: change of at least (%)", min_value=0.0, value=float(cfg.change_pct), step=1.0)
amount = right.number_input("and at least ($)", min_value=0.0, value=float(cfg.change_min_amount), step=1000.0)
st.caption("A move counts when it reaches both thresholds; a move from zero has no percentage and counts by amount. "
           f"Configured defaults: {cfg.change_pct:g}% and {money_full(cfg.change_min_amount)}.")
shown = run.cached(page_data.changes, sel, pct, amount)

columns = {
    "user_name": "Name", "manager": "Manager", "field_name": "Field",
    "previous_amount": num("Before", format="dollar"), "current_amount": num("Now", format="dollar"),
    "change_amount": num("Change", format="dollar"), "change_pct": num("Change %", format="%+.1f%%"),
}
since_previous, over_week = st.tabs(["Since the previous export", "Over the last week"])
for tab, window, label in ((since_previous, shown.since_previous, "previous"), (over_week, shown.over_week, "week")):
    with tab:
        if window is None:
            st.info(f"Only one export of {md_text(r.what())} so far: changes appear after the next refresh.")
            continue
        drawn = len(window.up) + len(window.down)
        st.caption(f"The {drawn} biggest moves up and down of {md_text(r.what())} (everyone in it: managers' "
                   "rows are their teams' roll-ups); the table under the chart holds every one.")
        st.plotly_chart(charts.movers(window.up, window.down,
                                      f"Biggest movers ({len(window.moves):,} moves at or above the thresholds)",
                                      more=max(0, len(window.moves) - drawn)),
                        key=f"movers-{label}")
        page.table(window.moves, columns, f"changes-{label}-{sel.forecast_id}-{sel.time_period}.csv",
                   ids=("user_id", "field_id"))
