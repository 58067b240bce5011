"""Plotly figures: pure functions, data in, figure out, with one look across the dashboard.

Names from Clari go into figures escaped: Plotly renders a small HTML subset in labels, and a rep
called "<b>Max</b>" must show those characters, not bold text.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

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
MONEY_AXIS = {"tickprefix": "$", "tickformat": "~s"}
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
    fig = go.Figure()
    for column, name in (("best_case_amount", "Best case"), ("commit_amount", "Commit"),
                         ("closed_amount", "Closed won")):
        key = column.removesuffix("_amount")
        fig.add_scatter(x=x, y=weekly[column], name=name, mode="lines+markers",
                        line={"color": COLORS[key]}, hovertemplate=f"{name}: {MONEY_HOVER}<extra>week %{{x}}</extra>")
    quota = weekly["quota_amount"].dropna()
    if not quota.empty:
        fig.add_hline(y=float(quota.iloc[-1]), line={"color": COLORS["target"], "dash": "dash"},
                      annotation_text=f"Quota ${quota.iloc[-1]:,.0f}", annotation_position="top left")
    fig.update_xaxes(title="Week of the quarter", dtick=1)
    fig.update_yaxes(title=None, **MONEY_AXIS)
    return _style(fig, title)


def accuracy_by_week(weekly: pd.DataFrame, target_pct: float,
                     title: str = "Accuracy of the commit call by week") -> go.Figure:
    """Accuracy (line) and bias (bars) of the call at each week, against the accuracy target."""
    if weekly.empty:
        return _empty(title, "No ended period with data for this selection.")
    fig = go.Figure()
    fig.add_bar(x=weekly["week_number"], y=weekly["bias_pct"], name="Bias",
                marker={"color": [COLORS["up"] if b >= 0 else COLORS["down"] for b in weekly["bias_pct"].fillna(0)]},
                opacity=0.45, hovertemplate="Bias %{y:+.1f}%<extra>week %{x}</extra>")
    fig.add_scatter(x=weekly["week_number"], y=weekly["accuracy_pct"], name="Accuracy", mode="lines+markers",
                    line={"color": COLORS["commit"], "width": 3},
                    hovertemplate="Accuracy %{y:.1f}%<extra>week %{x}</extra>")
    fig.add_hline(y=target_pct, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target_pct:g}%", annotation_position="bottom right")
    fig.update_xaxes(title="Week of the quarter (call taken that week)", dtick=1)
    fig.update_yaxes(title=None, ticksuffix="%")
    return _style(fig, title)


def coverage_by_person(rows: pd.DataFrame, target: float, title: str = "Pipeline coverage",
                       nobody: str = "No one in this selection.") -> go.Figure:
    """Coverage per person (horizontal bars) against the target line."""
    if rows.empty:
        return _empty(title, nobody)
    rows = rows[rows["coverage_ratio"].notna()].sort_values("coverage_ratio")
    if rows.empty:
        return _empty(title, "No one in this selection has quota left to cover.")
    colors = [COLORS["down"] if c < target else COLORS["up"] for c in rows["coverage_ratio"]]
    fig = go.Figure(go.Bar(x=rows["coverage_ratio"], y=safe_text(rows["user_name"]), orientation="h",
                           marker={"color": colors}, hovertemplate="%{y}: %{x:.2f}x<extra></extra>"))
    fig.add_vline(x=target, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target:g}x", annotation_position="top")
    fig.update_xaxes(title="Open pipeline / remaining quota", ticksuffix="x")
    fig.update_yaxes(title=None, automargin=True)
    return _style(fig, title, height=max(300, 22 * len(rows) + 90))


def pipeline_vs_remaining(rows: pd.DataFrame, title: str = "Open pipeline against remaining quota") -> go.Figure:
    if rows.empty:
        return _empty(title, "No data for this selection.")
    rows = rows.sort_values("remaining_quota_amount", ascending=False)
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
    fig = go.Figure(go.Scatter(x=data["week_number"], y=data["coverage_ratio"], mode="lines+markers", name="Coverage",
                               line={"color": COLORS["pipeline"], "width": 3},
                               hovertemplate="%{y:.2f}x<extra>week %{x}</extra>"))
    fig.add_hline(y=target, line={"color": COLORS["target"], "dash": "dash"},
                  annotation_text=f"Target {target:g}x", annotation_position="top left")
    fig.update_xaxes(title="Week of the quarter", dtick=1)
    fig.update_yaxes(title=None, ticksuffix="x", rangemode="tozero")
    return _style(fig, title)


def attainment_by_person(rows: pd.DataFrame, title: str = "Quota attainment") -> go.Figure:
    rows = rows[rows["attainment_pct"].notna()].sort_values("attainment_pct")
    if rows.empty:
        return _empty(title, "No quota loaded for this selection.")
    colors = [COLORS.get(str(s), COLORS["quota"]) for s in rows["status"]]
    fig = go.Figure(go.Bar(x=rows["attainment_pct"], y=safe_text(rows["user_name"]), orientation="h",
                           marker={"color": colors}, customdata=rows["forecast_to_quota_pct"],
                           hovertemplate="%{y}: %{x:.0f}% attained, commit %{customdata:.0f}% of quota<extra></extra>"))
    fig.add_vline(x=100, line={"color": COLORS["target"], "dash": "dash"}, annotation_text="Quota",
                  annotation_position="top")
    fig.update_xaxes(title="Closed won / quota", ticksuffix="%")
    fig.update_yaxes(title=None, automargin=True)
    return _style(fig, title, height=max(300, 22 * len(rows) + 90))


def movers(up: pd.DataFrame, down: pd.DataFrame, title: str = "Biggest movers") -> go.Figure:
    rows = pd.concat([down, up]) if not (up.empty and down.empty) else up
    if rows.empty:
        return _empty(title, "Nothing moved by at least the thresholds.")
    rows = rows.sort_values("change_amount")
    labels = [f"{n} · {f}" for n, f in zip(safe_text(rows["user_name"]), safe_text(rows["field_name"]))]
    fig = go.Figure(go.Bar(x=rows["change_amount"], y=labels, orientation="h",
                           marker={"color": [COLORS["up"] if v >= 0 else COLORS["down"]
                                             for v in rows["change_amount"]]},
                           hovertemplate="%{y}: %{x:$,.0f}<extra></extra>"))
    fig.update_xaxes(title="Change", **MONEY_AXIS)
    fig.update_yaxes(title=None, automargin=True)
    return _style(fig, title, height=max(300, 24 * len(rows) + 90))
