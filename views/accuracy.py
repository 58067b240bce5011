"""Forecast accuracy: how good the commit call was at each week of ended periods."""

import streamlit as st

from clari_data.read import charts, page_data
from ui import page, run
from ui.format import day_month, md_text

r = page.start("accuracy")
sel, target = r.sel, r.settings.alerts.accuracy_min_pct

shown = run.cached(page_data.accuracy, sel)
st.markdown(
    "**Accuracy** of a call = 100 × (1 − |forecast − actual| / |actual|); "
    "**bias** = 100 × (forecast − actual) / |actual|, where *forecast* is the commit call taken in that week "
    "(a manager's adjustment wins) and *actual* is closed won "
    "at the period's end. Several people together: 100 × (1 − Σ|F − A| / Σ|A|) (WAPE) and 100 × (ΣF − ΣA) / Σ|A|."
)
if shown is None:
    st.info("No ended period has been loaded yet: accuracy needs a quarter whose final closed amount is known.")
    st.stop()
period = shown.period
label = r.period_label(period)
if period != sel.time_period:
    st.info(f"{md_text(r.period_label(sel.time_period))} has not ended, so its actual is not known yet; showing "
            f"{md_text(label)}, the latest ended period.")
level = shown.level
people = run.cached(page_data.filter_options, sel.forecast_id, period).people
page.hierarchy(level, people, sel.reps, key="accuracy",
               worst_first=shown.direct.sort_values("mean_accuracy_pct", na_position="last")["user_id"].tolist())
whose = "the chosen reps" if sel.reps else level.path[-1][1] if level.path else "the top"
st.plotly_chart(charts.accuracy_by_week(shown.by_week, target,
                                        f"Accuracy of the commit call by week, {whose}, {label}"),
                key="accuracy-by-week")

num = st.column_config.NumberColumn
columns = {
    "user_name": "Name", "manager": "Manager", "is_manager": st.column_config.CheckboxColumn("Manager row"),
    "mean_accuracy_pct": num("Mean accuracy", format="%.1f%%", help=f"Target {target:g}%"),
    "mean_bias_pct": num("Mean bias", format="%+.1f%%"),
    "actual_amount": num("Actual (closed won)", format="dollar"), "weeks": num("Weeks"),
}
head = md_text(level.path[-1][1]) if level.path else "the top"
below = level.below_rows(shown.summary)
st.subheader("Direct reports", anchor=False)
st.caption(f"Sub-teams and reps reporting to {head} in {md_text(label)}, least accurate first "
           f"({len(shown.direct):,}); then **everyone below** {head} ({len(below):,} people).")
page.table(shown.direct.sort_values("mean_accuracy_pct", na_position="last"), columns,
           f"accuracy-direct-{period}.csv", ids=("user_id",))
st.subheader("Everyone below", anchor=False)
page.table(below.sort_values("mean_accuracy_pct", na_position="last"), columns, f"accuracy-below-{period}.csv",
           ids=("user_id",))

st.subheader("Accuracy by week, per person", anchor=False)
weeks = [c for c in shown.by_person_week.columns if c != "user_name"]
# The pivot's columns are W1, W2, ...: headed by the week's first day where the data says it.
starts = (dict(zip(shown.by_week["week_number"], shown.by_week["start_date"]))
          if "start_date" in shown.by_week.columns else {})


def week_heading(column: str) -> str:
    number = int(column[1:])
    return f"Week of {day_month(starts[number])}" if starts.get(number) is not None else f"Week {number}"


page.table(shown.by_person_week, {"user_name": "Name", **{c: num(week_heading(c), format="%.0f%%") for c in weeks}},
           f"accuracy-by-week-{period}.csv")
