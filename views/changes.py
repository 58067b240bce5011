"""Recent changes: who moved their number since the previous export and over the last week."""

import streamlit as st

from clari_data import charts, page_data
from ui import page, run
from ui.format import md_text

r = page.start("changes")
sel, cfg = r.sel, r.settings.alerts

left, right, _ = st.columns([1, 1, 2])
pct = left.number_input("Threshold: change of at least (%)", min_value=0.0, value=float(cfg.change_pct), step=1.0)
amount = right.number_input("and at least ($)", min_value=0.0, value=float(cfg.change_min_amount), step=1000.0)
st.caption("A move counts when it reaches both thresholds; a move from zero has no percentage and counts by amount. "
           f"Configured defaults: {cfg.change_pct:g}% and ${cfg.change_min_amount:,.0f}.")
shown = run.cached(page_data.changes, sel, pct, amount)

num = st.column_config.NumberColumn
columns = {
    "user_name": "Name", "manager": "Manager", "field_name": "Field",
    "previous_amount": num("Before", format="dollar"), "current_amount": num("Now", format="dollar"),
    "change_amount": num("Change", format="dollar"), "change_pct": num("Change %", format="%+.1f%%"),
}
since_previous, over_week = st.tabs(["Since the previous export", "Over the last week"])
for tab, window, label in ((since_previous, shown.since_previous, "previous"), (over_week, shown.over_week, "week")):
    with tab:
        if window is None:
            st.info(f"Only one export of {md_text(sel.forecast_id)} {md_text(sel.time_period)} so far: "
                    "changes appear after the next refresh.")
            continue
        st.plotly_chart(charts.movers(window.up, window.down,
                                      f"Biggest movers ({len(window.moves)} moves at or above the thresholds)"),
                        key=f"movers-{label}")
        page.table(window.moves, columns, f"changes-{label}-{sel.forecast_id}-{sel.time_period}.csv")
