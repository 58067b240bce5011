"""Clari revenue-forecast dashboard: `streamlit run app.py`.

The entry script of every page: it loads the settings, attaches to the process's refresh service,
draws the shared filters and runs the page the URL names. Pages live in `views/`, not `pages/`:
see README, "Why views/ and not pages/".
"""

import streamlit as st

from clari_data import analytics
from ui import filters, page, view

st.set_page_config(page_title="Clari forecast dashboard", page_icon=":material/trending_up:", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("views/accuracy.py", title="Forecast accuracy", icon=":material/target:", url_path="accuracy"),
    st.Page("views/coverage.py", title="Pipeline coverage", icon=":material/water_drop:", url_path="coverage"),
    st.Page("views/reps.py", title="Rep performance", icon=":material/leaderboard:", url_path="reps"),
    st.Page("views/changes.py", title="Recent changes", icon=":material/swap_vert:", url_path="changes"),
    st.Page("views/data.py", title="Data & refresh", icon=":material/database:", url_path="data"),
]

settings = view.settings_or_stop()
user_email = view.signed_in_user_or_stop()
service = view.service_or_stop(settings)
current_page = st.navigation(PAGES)

with service.warehouse.snapshot() as cur:
    v = view.View(settings, service, cur, analytics.status(service.warehouse, cur), service.state(),
                  sign_in=view.sign_in_configured(), user_email=user_email)
    view.set_current(v)
    page.remember_seen_runs(v)  # this run shows the data of every refresh finished so far

    def load_options(forecast: str | None, period: str | None) -> filters.Options:
        forecasts = v.load("forecasts")
        periods = v.load("periods", forecast)["time_period"].tolist() if forecast else []
        people = v.load("people", forecast, period) if period else None
        return filters.Options(forecasts, periods, people)

    with st.sidebar:
        v.sel, v.notices = filters.sidebar(load_options)
        with st.expander("Share this view"):
            st.code(filters.share_link(current_page.url_path), language=None, wrap_lines=True)
            st.caption("Anyone opening this link sees the same page and filters.")
        page.live_refresh_indicator()
    current_page.run()
