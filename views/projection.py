"""Projection: where the selection will likely land (P10 / P50 / P90), learned from how each
person's own commit calls at this week of past quarters ended, and how well that held before."""

import streamlit as st

from clari_data.read import charts, page_data
from clari_data.read.projection import MIN_QUARTERS, POOLING, summary_line
from clari_data.shared.rules import band_side
from ui import page, run
from ui.format import DASH, md_text, money, week_label

r = page.start("projection")
sel = r.sel
shown = run.cached(page_data.projection, sel)
weekly, rows = shown.weeks, shown.members

st.markdown(
    "**How it works.** For each person and week of the quarter *w*, the ratio *r* = ln(final closed won / commit "
    "call at week *w*) over the ended quarters before this one (the call is the manager's adjustment where there "
    "is one). Their median *m* and variance *v* are pulled toward their team's (people with the same manager and "
    "role; else the whole organisation's) by how many quarters they have: μ = (n·m + k·m_team) / (n + k), "
    f"k = {POOLING:g} (of the estimators compared on past quarters, the one with the smallest error and a "
    "calibrated band). The band is the call × exp(μ ± 1.28 σ), σ² the pooled variance widened for a small "
    "sample; the P50 is the call × exp(μ), never below what is already closed. Nothing from this quarter or later "
    "is used."
)

subject = md_text(r.what())
st.subheader(f"Where it will likely land: {subject}", anchor=False)
last = weekly.iloc[-1] if not weekly.empty else None
if last is not None and last.notna()["p50_amount"]:
    low, mid, high, call, gap = st.columns(5)
    low.metric("P10", money(last["p10_amount"]), help="The low end of the 80% band: 1 in 10 lands below it.")
    mid.metric("P50 (projection)", money(last["p50_amount"]),
               help="The middle of the projection: as likely to land above as below.")
    high.metric("P90", money(last["p90_amount"]),
                help="The high end of the 80% band: in past quarters the actual landed between P10 and P90 about "
                     "that often (the back-test below).")
    call.metric("Commit call", money(last["call_amount"]))
    gap.metric("P50 − call", money(last["p50_amount"] - last["call_amount"]) if last.notna()["call_amount"] else DASH)
elif not weekly.empty:
    st.info("No projection yet for this selection: it needs an ended quarter loaded before this one "
            "(with calls and a final closed won).", icon=":material/info:")
who = ("the chosen reps' bands added up (wider than the band of their total)" if len(sel.reps) > 1
       else "the chosen rep" if sel.reps
       else "the chosen team's manager (the team's roll-up), from the manager's own past calls" if sel.team
       else "the top of the hierarchy (the whole organisation's roll-up), from its own past calls")
latest = week_label(weekly["start_date"].iloc[-1]) if not weekly.empty else DASH
st.caption(f"Numbers of {who}; latest week: {latest}. Each week's band is the projection as that week's call made it.")
st.plotly_chart(charts.projection_fan(weekly, f"Projection by week, {r.period_label(sel.time_period)}"),
                key="projection-fan")

st.subheader("Per person", anchor=False)
sides = [band_side(c, p10, p90) for c, p10, p90 in zip(rows["call_amount"], rows["p10_amount"], rows["p90_amount"])]
banded = [side for side in sides if side is not None]
outside = [side for side in banded if side]
# Whole dollars: the quantiles are ratios times calls, and cents would claim a precision they lack.
table = rows.round({"p10_amount": 0, "p50_amount": 0, "p90_amount": 0}).assign(
    band=[f"{money(p10)} – {money(p90)}" if p10 == p10 and p90 == p90 else DASH
          for p10, p90 in zip(rows["p10_amount"], rows["p90_amount"])],
    p50_minus_call=(rows["p50_amount"] - rows["call_amount"]).round(),
    call_outside=[DASH if side is None else side for side in sides],
)
st.caption(f"{len(outside):,} of {len(banded):,} people with a band call outside it: their call is above their "
           "P90 or below their P10, which their own past says happens one time in five.")
num = st.column_config.NumberColumn
page.table(table, {
    "user_name": "Name", "manager": "Manager", "is_manager": st.column_config.CheckboxColumn("Manager row"),
    "call_amount": num("Commit call", format="dollar"), "p50_amount": num("P50", format="dollar"),
    "band": st.column_config.TextColumn("P10 – P90"),
    "p50_minus_call": num("P50 − call", format="dollar", help="Positive: the person's past says they under-call."),
    "call_outside": st.column_config.TextColumn("Call outside band",
                                                help="above: call over the P90; below: call under the P10"),
    "closed_amount": num("Closed won", format="dollar"),
    "quarters_used": num("Quarters of history", help="Ended quarters of their own behind the projection"),
    "p10_amount": num("P10", format="dollar"), "p90_amount": num("P90", format="dollar"),
}, f"projection-{sel.forecast_id}-{sel.time_period}.csv", ids=("user_id", "method"))

st.subheader("Back-test", anchor=False)
back = shown.backtest
if back.empty:
    st.info(f"No back-test yet: it needs an ended quarter with {MIN_QUARTERS} ended quarters loaded before it.",
            icon=":material/info:")
else:
    st.markdown(md_text(summary_line(shown.at_week, shown.week_number)))
    st.caption("Each ended quarter with at least "
               f"{MIN_QUARTERS} ended quarters before it, projected week by week from those alone. Band held: the "
               "share of people whose actual fell between their P10 and P90 (80% is calibrated). WAPE = Σ|x − actual| "
               "/ Σ|actual| over the people, for the P50 and for the raw call. "
               + md_text(summary_line(shown.overall).replace("over all weeks of the quarter", "over all their weeks")))
    back = back.assign(quarter=[r.period_label(p) for p in back["time_period"]],
                       band_pct=100 * back["band_coverage"], p50_pct=100 * back["p50_wape"],
                       call_pct=100 * back["call_wape"])
    page.table(back, {
        "quarter": "Quarter", "week_number": num("Week of the quarter"), "people": num("People"),
        "band_pct": num("Band held", format="%.0f%%"), "p50_pct": num("P50 WAPE", format="%.1f%%"),
        "call_pct": num("Call WAPE", format="%.1f%%"),
    }, f"projection-backtest-{sel.forecast_id}.csv", ids=("time_period",), height=300)
