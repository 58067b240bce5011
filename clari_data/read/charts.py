"""Plotly figures: pure functions, data in, figure out, with one look across the dashboard.

Names from Clari go into figures escaped: Plotly renders a small HTML subset in labels, and a rep
called "<b>Max</b>" must show those characters, not bold text.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from clari_data.shared import money

COLORS = {
    "commit": "#2563eb",
    "best_case": "#7c3aed",
    "closed": "#059669",
    "pipeline": "#f59e0b",
    "quota": "#64748b",
    "target": "#dc2626",
    "up": "#059669",
    "down": "#dc2626",
    "at_risk": "#dc2626",
    "watch": "#f59e0b",
    "on_track": "#059669",
}
# Axes and hover text are formatted by Plotly in the browser (d3-format); text this module writes
# itself goes through clari_data/shared/money.py, the one home of how money reads.
MONEY_AXIS = {"tickprefix": "$", "tickformat": "~s"}
MAX_PEOPLE = 25  # no per-person chart draws more: the rest are in the table under it
MONEY_HOVER = "$%{y:,.0f}"


def safe_text(values) -> list[str]:
    """Labels safe for Plotly's HTML subset."""
    return [html.escape(str(v)) if v is not None and not (isinstance(v, float) and pd.isna(v)) else "" for v in values]


def _style(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": html.escape(title), "x": 0, "xanchor": "left", "font": {"size": 16}},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hovermode="closest",
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


def _quota_line(fig: go.Figure, weekly: pd.DataFrame) -> None:
    """The latest week's quota as a dashed line, labelled with its amount."""
    quota = weekly["quota_amount"].dropna()
    if not quota.empty:
        fig.add_hline(y=float(quota.iloc[-1]), line={"color": COLORS["target"], "dash": "dash"},
                      annotation_text=f"Quota {money.full(quota.iloc[-1])}", annotation_position="top left")


def _week_axis(fig: go.Figure, weekly: pd.DataFrame, title: str = "Week of the quarter", dated: str = "Week of"
               ) -> None:
    """Weeks by their first day ("30 Nov") when the frame carries `start_date`, else by number."""
    if "start_date" in weekly.columns and weekly["start_date"].notna().all():
        fig.update_xaxes(title=dated, tickmode="array",
                         tickvals=list(weekly["week_number"]), ticktext=[_day_month(d) for d in weekly["start_date"]])
    else:
        fig.update_xaxes(title=title, dtick=1)


def _day_month(day) -> str:
    return f"{day.day} {day:%b}"


def _week_hover(weekly: pd.DataFrame) -> tuple[list[str] | None, str]:
    """Per-point week labels for hover text, and the hover's trailing box."""
    if "start_date" in weekly.columns and weekly["start_date"].notna().all():
        return [f"week of {_day_month(d)}" for d in weekly["start_date"]], "<extra>%{customdata}</extra>"
    return None, "<extra>week %{x}</extra>"


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=html.escape(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, height=220)


def forecast_trend(weekly: pd.DataFrame, title: str = "Forecast by week") -> go.Figure:
    """Commit, best case and closed won per week against the quota line."""
    if weekly.empty:
        return _empty(title, "No weeks loaded for this selection yet.")
    x = weekly["week_number"]
    weeks, extra = _week_hover(weekly)
    fig = go.Figure()
    for column, name in (("best_case_amount", "Best case"), ("commit_amount", "Commit"),
                         ("closed_amount", "Closed won")):
        key = column.removesuffix("_amount")
        fig.add_scatter(x=x, y=weekly[column], name=name, mode="lines+markers", customdata=weeks,
                        line={"color": COLORS[key]}, hovertemplate=f"{name}: {MONEY_HOVER}{extra}")
    _quota_line(fig, weekly)
    _week_axis(fig, weekly)
    fig.update_yaxes(title=None, **MONEY_AXIS)
    return _style(fig, title)


def accuracy_by_week(weekly: pd.DataFrame, target_pct: float,
                     title: str = "Accuracy of the commit call by week") -> go.Figure:
    """Accuracy (line) and bias (bars) of the call at each week, against the accuracy target."""
    if weekly.empty:
        return _empty(title, "No ended period with data for this selection.")
    weeks, extra = _week_hover(weekly)
    fig = go.Figure()
    fig.add_bar(x=weekly["week_number"], y=weekly["bias_pct"], name="Bias", customdata=weeks,
                marker={"color": [COLORS["up"] if b >= 0 else COLORS["down"] for b in weekly["bias_pct"].fillna(0)]},
                opacity=0.45, hovertemplate=f"Bias %{{y:+.1f}}%{extra}")
    fig.add_scatter(x=weekly["week_number"], y=weekly["accuracy_pct"], name="Accuracy", mode="lines+markers",
                    line={"color": COLORS["commit"], "width": 3}, customdata=weeks,
                    hovertemplate=f"Accuracy %{{y:.1f}}%{extra}")
    fig.add_hline(y=target_pct, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target_pct:g}%", annotation_position="bottom right")
    _week_axis(fig, weekly, "Week of the quarter (call taken that week)", "Week the call was taken")
    fig.update_yaxes(title=None, ticksuffix="%")
    return _style(fig, title)


def _bounded(rows: pd.DataFrame, title: str, limit: int, which: str) -> tuple[pd.DataFrame, str]:
    """The first `limit` rows (already ordered by what matters) and the title saying how many more
    there are, e.g. "Coverage by direct report: lowest 25 of 327, and 302 more in the table"."""
    if len(rows) <= limit:
        return rows, title
    return rows.head(limit), f"{title}: {which} {limit} of {len(rows):,}, and {len(rows) - limit:,} more in the table"


def people_drawn(fig: go.Figure) -> int:
    """How many people a per-person chart draws (its bars' distinct labels)."""
    labels: set = set()
    for trace in fig.data:
        labels.update(trace.y if getattr(trace, "orientation", None) == "h" else trace.x or ())
    return len(labels)


def coverage_by_person(rows: pd.DataFrame, target: float, title: str = "Pipeline coverage",
                       nobody: str = "No one in this selection.", limit: int = MAX_PEOPLE) -> go.Figure:
    """Coverage per person (horizontal bars) against the target line: the `limit` lowest, the
    title saying how many more the table holds."""
    if rows.empty:
        return _empty(title, nobody)
    rows = rows[rows["coverage_ratio"].notna()].sort_values("coverage_ratio")
    if rows.empty:
        return _empty(title, "No one in this selection has quota left to cover.")
    rows, title = _bounded(rows, title, limit, "lowest")
    colors = [COLORS["down"] if c < target else COLORS["up"] for c in rows["coverage_ratio"]]
    fig = go.Figure(go.Bar(x=rows["coverage_ratio"], y=safe_text(rows["user_name"]), orientation="h",
                           marker={"color": colors}, hovertemplate="%{y}: %{x:.2f}x<extra></extra>"))
    fig.add_vline(x=target, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target:g}x", annotation_position="top")
    fig.update_xaxes(title="Open pipeline / remaining quota", ticksuffix="x")
    fig.update_yaxes(title=None, automargin=True, autorange="reversed")  # the lowest on top
    return _style(fig, title, height=max(300, 22 * len(rows) + 90))


def pipeline_vs_remaining(rows: pd.DataFrame, title: str = "Open pipeline against remaining quota",
                          limit: int = MAX_PEOPLE) -> go.Figure:
    """Open pipeline beside remaining quota per person: the `limit` with the most quota left."""
    if rows.empty:
        return _empty(title, "No data for this selection.")
    rows = rows.sort_values("remaining_quota_amount", ascending=False)
    rows, title = _bounded(rows, title, limit, "most quota left,")
    names = safe_text(rows["user_name"])
    fig = go.Figure()
    fig.add_bar(x=names, y=rows["open_pipeline_amount"], name="Open pipeline", marker={"color": COLORS["pipeline"]},
                hovertemplate=f"%{{x}} open pipeline: {MONEY_HOVER}<extra></extra>")
    fig.add_bar(x=names, y=rows["remaining_quota_amount"], name="Remaining quota", marker={"color": COLORS["quota"]},
                hovertemplate=f"%{{x}} remaining quota: {MONEY_HOVER}<extra></extra>")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=None, **MONEY_AXIS)
    return _style(fig, title)


def coverage_trend(weekly: pd.DataFrame, target: float, title: str = "Coverage over the weeks") -> go.Figure:
    data = weekly[weekly["coverage_ratio"].notna()] if not weekly.empty else weekly
    if data.empty:
        return _empty(title, "No weeks with quota left to cover.")
    weeks, extra = _week_hover(data)
    fig = go.Figure(go.Scatter(x=data["week_number"], y=data["coverage_ratio"], mode="lines+markers", name="Coverage",
                               line={"color": COLORS["pipeline"], "width": 3}, customdata=weeks,
                               hovertemplate=f"%{{y:.2f}}x{extra}"))
    fig.add_hline(y=target, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target:g}x", annotation_position="top left")
    _week_axis(fig, data)
    fig.update_yaxes(title=None, ticksuffix="x", rangemode="tozero")
    return _style(fig, title)


def attainment_by_person(rows: pd.DataFrame, title: str = "Quota attainment", limit: int = MAX_PEOPLE) -> go.Figure:
    """Attainment per person against the quota line: the `limit` lowest."""
    rows = rows[rows["attainment_pct"].notna()].sort_values("attainment_pct")
    if rows.empty:
        return _empty(title, "No quota loaded for this selection.")
    rows, title = _bounded(rows, title, limit, "lowest")
    colors = [COLORS.get(str(s), COLORS["quota"]) for s in rows["status"]]
    fig = go.Figure(go.Bar(x=rows["attainment_pct"], y=safe_text(rows["user_name"]), orientation="h",
                           marker={"color": colors}, customdata=rows["forecast_to_quota_pct"],
                           hovertemplate="%{y}: %{x:.0f}% attained, commit %{customdata:.0f}% of quota<extra></extra>"))
    fig.add_vline(x=100, line={"color": COLORS["target"], "dash": "dash"}, annotation_text="Quota",
                  annotation_position="top")
    fig.update_xaxes(title="Closed won / quota", ticksuffix="%")
    fig.update_yaxes(title=None, automargin=True, autorange="reversed")  # the lowest on top
    return _style(fig, title, height=max(300, 22 * len(rows) + 90))


def movers(up: pd.DataFrame, down: pd.DataFrame, title: str = "Biggest movers", limit: int = MAX_PEOPLE,
           more: int = 0) -> go.Figure:
    """The biggest moves up and down (at most `limit` bars, the largest by size); `more`: the moves
    not drawn, which the title counts."""
    rows = pd.concat([down, up]) if not (up.empty and down.empty) else up
    if rows.empty:
        return _empty(title, "Nothing moved by at least the thresholds.")
    if len(rows) > limit:
        more += len(rows) - limit
        rows = rows.loc[rows["change_amount"].abs().sort_values(ascending=False).index[:limit]]
    if more:
        title = f"{title}, and {more:,} more in the table"
    rows = rows.sort_values("change_amount")
    labels = [f"{n} · {f}" for n, f in zip(safe_text(rows["user_name"]), safe_text(rows["field_name"]))]
    fig = go.Figure(go.Bar(x=rows["change_amount"], y=labels, orientation="h",
                           marker={"color": [COLORS["up"] if v >= 0 else COLORS["down"]
                                             for v in rows["change_amount"]]},
                           hovertemplate="%{y}: %{x:$,.0f}<extra></extra>"))
    fig.update_xaxes(title="Change", **MONEY_AXIS)
    fig.update_yaxes(title=None, automargin=True)
    return _style(fig, title, height=max(300, 24 * len(rows) + 90))


def distribution(values: pd.Series, target: float, *, title: str, axis: str, unit: str, bin_width: float,
                 cap: float, nobody: str = "No one below this level has a value to show.",
                 risk_below: float | None = None) -> go.Figure:
    """How a number spreads over everyone below a level: counts per bin (binned here, so the figure
    carries one bar per bin whatever the head count), values at or over `cap` in the last bin, the
    bins under the target red (amber between `risk_below` and the target, when given), with the
    target line."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if values.empty:
        return _empty(title, nobody)
    edges = [i * bin_width for i in range(int(round(cap / bin_width)) + 1)]
    lowest = min(0.0, float(values.min()))
    if lowest < 0:
        edges.insert(0, lowest)
    clipped = values.clip(upper=cap)
    counts = pd.cut(clipped, bins=[*edges[:-1], float("inf")], right=False).value_counts(sort=False)
    lefts = edges[:-1]
    labels = [f"{left:g}{unit}–{right:g}{unit}" for left, right in zip(lefts, edges[1:])]
    labels[-1] = f"{lefts[-1]:g}{unit} or more"
    below = int((values < target).sum())
    fig = go.Figure(go.Bar(x=[left + bin_width / 2 for left in lefts], y=list(counts), width=bin_width * 0.92,
                           customdata=labels,
                           marker={"color": [_band(left + bin_width, target, risk_below) for left in lefts]},
                           hovertemplate="%{customdata}: %{y} people<extra></extra>"))
    fig.add_vline(x=target, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target:g}{unit}: {below:,} of {len(values):,} below",
                  annotation_position="top right")
    fig.update_xaxes(title=axis, ticksuffix=unit)
    fig.update_yaxes(title="People", rangemode="tozero", tickformat=",d", dtick=1 if max(counts) <= 5 else None)
    fig.update_layout(bargap=0)
    return _style(fig, title)


def _band(right_edge: float, target: float, risk_below: float | None) -> str:
    if right_edge > target:
        return COLORS["up"]
    return COLORS["watch"] if risk_below is not None and right_edge > risk_below else COLORS["down"]


def waterfall(start_total: float | None, steps: pd.DataFrame, others_amount: float, end_total: float | None, *,
              start_label: str, end_label: str, field_name: str, title: str | None = None) -> go.Figure:
    """From the start total, each of the biggest moves by person (`steps`: user_name, change_amount),
    everyone else's together, to the end total."""
    title = title or f"What moved {field_name.lower()}"
    if start_total is None or end_total is None:
        return _empty(title, "No export to start from or to end at for this selection.")
    names = _unique(safe_text(steps["user_name"]))
    x = [html.escape(start_label), *names, "Everyone else", html.escape(end_label)]
    y = [start_total, *steps["change_amount"].astype(float), float(others_amount), end_total]
    measure = ["absolute", *["relative"] * len(names), "relative", "total"]
    fig = go.Figure(go.Waterfall(
        x=x, y=y, measure=measure, orientation="v", connector={"line": {"color": COLORS["quota"], "width": 1}},
        increasing={"marker": {"color": COLORS["up"]}}, decreasing={"marker": {"color": COLORS["down"]}},
        totals={"marker": {"color": COLORS["commit"]}}, textposition="outside",
        text=[money.short(v, signed=m == "relative") for v, m in zip(y, measure)],
        hovertemplate="%{x}: %{text}<extra></extra>", cliponaxis=False))
    fig.update_xaxes(title=None, automargin=True)
    fig.update_yaxes(title=field_name, range=_moves_range(y[:-1]), **MONEY_AXIS)
    fig.update_layout(showlegend=False)
    return _style(fig, title, height=420)


def _moves_range(start_and_moves: list[float]) -> list[float]:
    """A y range around the running total, not from zero: moves of tens of thousands on a total of
    tens of millions would otherwise be hairlines. The total bars run off the bottom instead."""
    running = [sum(start_and_moves[: i + 1]) for i in range(len(start_and_moves))]
    low, high = min(running), max(running)
    pad = max((high - low) * 0.35, abs(high) * 0.002, 1.0)
    return [low - pad, high + pad]


def _unique(labels: list[str]) -> list[str]:
    """Bars on one axis need distinct labels: two people with one name would merge into one bar."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def pacing(weeks: pd.DataFrame, average: pd.DataFrame, period: str, title: str = "Pacing against past quarters"
           ) -> go.Figure:
    """Closed won / quota by week of quarter: the chosen period (`weeks.period == period`) bold, each
    earlier quarter thin, and their average dashed. `weeks`: week_number, period, label,
    attainment_pct; `average`: week_number, attainment_pct."""
    if weeks.empty:
        return _empty(title, "No quota loaded for this selection yet.")
    fig = go.Figure()
    earlier = [p for p in dict.fromkeys(weeks["period"]) if p != period]
    for i, other in enumerate(sorted(earlier, reverse=True)):
        rows = weeks[weeks["period"] == other].sort_values("week_number")
        label = html.escape(str(rows["label"].iloc[0]))
        fig.add_scatter(x=rows["week_number"], y=rows["attainment_pct"], name=label, mode="lines",
                        line={"color": COLORS["quota"], "width": 1}, opacity=0.35 + 0.1 * (len(earlier) - i),
                        hovertemplate=f"{label}: %{{y:.0f}}%<extra>week %{{x}}</extra>")
    if not average.empty:
        fig.add_scatter(x=average["week_number"], y=average["attainment_pct"], name=f"{len(earlier)}-quarter average",
                        mode="lines", line={"color": COLORS["best_case"], "width": 2, "dash": "dash"},
                        hovertemplate="Average: %{y:.0f}%<extra>week %{x}</extra>")
    current = weeks[weeks["period"] == period].sort_values("week_number")
    if not current.empty:
        label = html.escape(str(current["label"].iloc[0]))
        fig.add_scatter(x=current["week_number"], y=current["attainment_pct"], name=label, mode="lines+markers",
                        line={"color": COLORS["closed"], "width": 3},
                        hovertemplate=f"{label}: %{{y:.0f}}%<extra>week %{{x}}</extra>")
    fig.add_hline(y=100, line={"color": COLORS["target"], "dash": "dot"}, annotation_text="Quota",
                  annotation_position="top left")
    fig.update_xaxes(title="Week of the quarter", dtick=1)
    fig.update_yaxes(title="Closed won / quota", ticksuffix="%", rangemode="tozero")
    return _style(fig, title)


def projection_fan(weekly: pd.DataFrame, title: str = "Projection by week") -> go.Figure:
    """Where the selection will likely land, as each week's projection saw it: the P10-P90 band
    shaded, the P50, the commit call and closed won by week, and the quota line. `weekly`:
    week_number, start_date, call_amount, closed_amount, quota_amount, p10/p50/p90_amount."""
    if weekly.empty:
        return _empty(title, "No weeks loaded for this selection yet.")
    weekly = weekly.sort_values("week_number")
    x = weekly["week_number"]
    weeks, extra = _week_hover(weekly)
    fig = go.Figure()
    banded = weekly[weekly["p10_amount"].notna() & weekly["p90_amount"].notna()]
    if not banded.empty:
        band_weeks, band_extra = _week_hover(banded)
        fig.add_scatter(x=banded["week_number"], y=banded["p90_amount"], name="P90", mode="lines",
                        line={"color": COLORS["commit"], "width": 0}, showlegend=False, customdata=band_weeks,
                        hovertemplate=f"P90: {MONEY_HOVER}{band_extra}")
        fig.add_scatter(x=banded["week_number"], y=banded["p10_amount"], name="P10-P90 band", mode="lines",
                        line={"color": COLORS["commit"], "width": 0}, fill="tonexty",
                        fillcolor="rgba(37, 99, 235, 0.18)", customdata=band_weeks,
                        hovertemplate=f"P10: {MONEY_HOVER}{band_extra}")
        fig.add_scatter(x=banded["week_number"], y=banded["p50_amount"], name="P50 (projection)",
                        mode="lines+markers", line={"color": COLORS["commit"], "width": 3}, customdata=band_weeks,
                        hovertemplate=f"P50: {MONEY_HOVER}{band_extra}")
    fig.add_scatter(x=x, y=weekly["call_amount"], name="Commit call", mode="lines+markers", customdata=weeks,
                    line={"color": COLORS["best_case"], "dash": "dot"},
                    hovertemplate=f"Commit call: {MONEY_HOVER}{extra}")
    fig.add_scatter(x=x, y=weekly["closed_amount"], name="Closed won", mode="lines+markers", customdata=weeks,
                    line={"color": COLORS["closed"]}, hovertemplate=f"Closed won: {MONEY_HOVER}{extra}")
    _quota_line(fig, weekly)
    _week_axis(fig, weekly)
    fig.update_yaxes(title=None, **MONEY_AXIS)
    return _style(fig, title, height=420)
