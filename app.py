"""Clari revenue-forecast dashboard: `streamlit run app.py`.

The entry script of every page: it loads the settings, attaches to the process's refresh service,
draws the shared filters and runs the page the URL names. The pages are those of
`clari_data.shared.pages`; their scripts live in `views/`, not `pages/`: see docs/architecture/index.md, "Why
views/ and not pages/".
"""

import streamlit as st

from clari_data.read import analytics, page_data
from clari_data.shared.pages import PAGES
from ui import filters, page, run

st.set_page_config(page_title="Clari forecast dashboard", page_icon=":material/trending_up:", layout="wide")

# The front page has no route: it is the default, at the base address.
NAVIGATION = [st.Page(p.script, title=p.title, icon=p.icon, **({"url_path": p.route} if p.route else {"default": True}))
              for p in PAGES]

# Sign-in first, then the settings, then who may see anything: a visitor who has not signed in
# sees no configuration error, and one not in [access] view_allowed no data.
user_email = run.signed_in_user_or_stop()
settings = run.settings_or_stop()
run.viewer_allowed_or_stop(settings, user_email)
service = run.service_or_stop(settings)
current_page = st.navigation(NAVIGATION)

with service.warehouse.snapshot() as cur:
    this_run = run.PageRun(settings, service, cur, analytics.data_status(service.warehouse, cur), service.state(),
                           sign_in=run.sign_in_configured(), user_email=user_email)
    run.set_current(this_run)
    this_run.period_labels = run.cached(analytics.period_labels)
    page.remember_seen_runs(this_run)  # this run shows the data of every refresh finished so far

    def load_options(forecast: str | None, period: str | None) -> page_data.FilterOptions:
        return run.cached(page_data.filter_options, forecast, period)

    context = filters.Context(
        page_route=current_page.url_path, forecast_name=this_run.forecast_name, period_label=this_run.period_label,
        now=this_run.clock, first=run.cached(analytics.first_export_at), latest=run.cached(analytics.latest_export_at),
        exports_of=lambda forecast, period: run.cached(analytics.exports_of, forecast, period), when=this_run.when)
    with st.sidebar:
        this_run.sel, this_run.notices = filters.sidebar(load_options, context)
        # Drawn only when opened: the link's code block pulls a 1.5 MB highlighter into every page.
        share = st.expander("Share this view", key="share_open", on_change="rerun")
        if share.open:
            with share:
                st.code(filters.share_link(current_page.url_path), language=None, wrap_lines=True)
                st.caption("Anyone opening this link sees the same page and filters, and the same moment when it "
                           "is as of a past export.")
        page.live_refresh_indicator()
    current_page.run()
