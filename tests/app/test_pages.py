"""Every page through Streamlit's AppTest, on a real warehouse filled by demo refreshes."""

import time
from datetime import datetime

import pytest
from apptest_helpers import run, texts, url
from builders import hostile_warehouse
from support import sql_value

from clari_data.runtime.scheduler import process_service, running_schedulers, stop_process_services
from clari_data.shared.config import load_settings
from clari_data.shared.pages import PAGES
from ui.format import money, percent, ratio


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_page_renders(make_app, page):
    at = run(make_app(), page.script)
    assert at.title[0].value == page.title  # the registry's title, as in the navigation
    assert any("Data as of" in c.value for c in at.caption)
    if page.name != "data":
        assert at.get("plotly_chart"), "expected at least one chart"


@pytest.mark.parametrize("with_team", [False, True])
def test_overview_numbers_are_the_selection_s_rows_in_the_views(make_app, with_team):
    """The headline is the top of the hierarchy, or the chosen team's manager: checked against the
    public views directly, not through the code that computes it."""
    at = run(make_app())
    wh = process_service(load_settings()).warehouse
    forecast, period = wh.cursor().execute(
        "SELECT forecast_id, max(time_period) FROM exports GROUP BY 1 ORDER BY 1 LIMIT 1").fetchone()
    team = sql_value(wh, "SELECT min(user_id) FROM rep_performance WHERE is_manager AND manager_user_id IS NOT NULL "
                  "AND time_period = ?", [period]) if with_team else None
    which = "p.user_id = $team" if team else "p.manager_user_id IS NULL"
    quota, closed, commit, best, open_, remaining = wh.cursor().execute(f"""
        SELECT sum(p.quota_amount), sum(p.closed_amount), sum(p.forecast_amount), sum(p.best_case_amount),
               sum(c.open_pipeline_amount), sum(c.remaining_quota_amount)
        FROM rep_performance p JOIN pipeline_coverage c USING (forecast_id, time_period, user_id)
        WHERE p.forecast_id = $forecast AND p.time_period = $period AND {which}""",
        {"forecast": forecast, "period": period, **({"team": team} if team else {})}).fetchone()
    if team:
        at = run(make_app(), team=team)  # a new session opening a link to the team
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Quota": money(quota), "Closed won": money(closed), "Commit": money(commit),
                       "Best case": money(best), "Coverage": ratio(open_ / remaining if remaining > 0 else None),
                       "Attainment": percent(100 * closed / quota), "Gap to quota": money(remaining),
                       "Open pipeline": money(open_)}


def people(at):
    from clari_data.read import analytics

    svc = process_service(load_settings())
    forecast = sql_value(svc.warehouse, "SELECT min(forecast_id) FROM exports")
    periods = analytics.periods(svc.warehouse, forecast)["time_period"].tolist()
    everyone = analytics.people(svc.warehouse, forecast, periods[1])
    return forecast, periods, everyone


def test_query_params_set_the_filters(make_app):
    at = run(make_app())
    forecast, periods, everyone = people(at)
    manager = everyone[everyone["is_manager"] & everyone["manager_user_id"].notna()].iloc[0]
    reps = everyone[(everyone["manager_user_id"] == manager.user_id) & ~everyone["is_manager"]]["user_id"].tolist()[:2]
    at = run(make_app(), "views/coverage.py", period=periods[1], team=manager.user_id, rep=reps)
    assert at.selectbox(key="period").value == periods[1]
    assert at.selectbox(key="team").value == manager.user_id
    assert at.multiselect(key="rep").value == reps
    assert not at.warning or not any("The link" in w for w in texts(at.warning))
    assert url(at) == {"period": [periods[1]], "team": [manager.user_id], "rep": reps}


def test_defaults_stay_out_of_the_url_and_choices_go_in(make_app):
    at = run(make_app())
    assert url(at) == {}
    _, periods, _ = people(at)
    at.selectbox(key="period").set_value(periods[1]).run()
    assert url(at) == {"period": [periods[1]]}
    at.selectbox(key="period").set_value(periods[0]).run()
    assert url(at) == {}


@pytest.mark.parametrize("params, notice", [
    ({"period": "2099_Q1"}, "has no data"),
    ({"period": "'; DROP TABLE exports; --"}, "is not a quarter shaped YYYY_QN"),
    ({"forecast": "bogus"}, "The link's forecast"),
    ({"team": "nobody"}, "The link's team"),
    ({"rep": ["ghost", "x" * 5000]}, "The link's rep(s)"),
    ({"period": ["2026_Q1", "2026_Q2"]}, "more than once"),
    ({"team": "🦄\u202e<script>alert(1)</script>"}, "The link's team"),
])
def test_bad_link_values_show_a_notice_and_the_defaults(make_app, params, notice):
    at = run(make_app(), "views/reps.py", **params)
    notices = [w.replace("\\", "") for w in texts(at.warning) if "link" in w]  # drop Markdown escapes
    assert any(notice in n for n in notices), notices
    assert at.selectbox(key="team").value is None and at.multiselect(key="rep").value == []
    assert all(len(n) < 400 for n in notices)  # a 5,000-character value is not echoed whole
    svc = process_service(load_settings())
    assert sql_value(svc.warehouse, "SELECT count(*) FROM exports") == 3  # the data is intact


HOSTILE = ["' OR 1=1 --", "'; DROP TABLE exports; --", '"quoted" \\ back', "x" * 10_000,
           "\u202e\u200b🦄 ﷽", "Robert'); DROP TABLE users;--", "<script>alert(1)</script>", "**bold** $x$",
           "2026_Q1' UNION SELECT 1--"]
NOTICE_OF = {"forecast": "The link's forecast", "period": "The link's period", "team": "The link's team",
             "rep": "The link's rep(s)"}


@pytest.mark.parametrize("param", list(NOTICE_OF))
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_link_values_are_refused_with_the_data_intact(make_app, param, value):
    at = run(make_app(), "views/coverage.py", **{param: [value] if param == "rep" else value})
    notices = [w.replace("\\", "") for w in texts(at.warning)]
    assert any(n.startswith(NOTICE_OF[param]) for n in notices), notices
    assert all(len(n) < 400 for n in notices)
    assert url(at) == {}  # the bad value is gone from the address bar; the defaults show
    assert at.get("plotly_chart")  # the page still shows its data
    wh = process_service(load_settings()).warehouse
    assert sql_value(wh, "SELECT count(*) FROM exports") == 3 and sql_value(wh, "SELECT count(*) FROM users") > 0


def test_a_malformed_configuration_gives_one_clear_message(make_app, tmp_path):
    at = make_app()
    (tmp_path / "clari.toml").write_text("[clari\nforecast_ids = net_arr\n")
    at.run()
    assert not at.exception
    [error] = texts(at.error)
    assert error.startswith("**Configuration error:**") and "is not valid TOML" in error
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("config, message", [
    ('[warehouse]\nbackend = "sqlite"\n', "[warehouse] backend must be one of duckdb, ducklake, not 'sqlite'"),
    ('[server]\nrole = "web"\n', "[server] role = \"web\" needs [warehouse] backend = \"ducklake\""),
])
def test_a_backend_s_settings_are_refused_before_the_warehouse_opens(make_app, tmp_path, config, message):
    at = make_app()
    (tmp_path / "clari.toml").write_text(config)
    at.run()
    assert not at.exception
    [error] = [e.replace("\\", "") for e in texts(at.error)]
    assert error.startswith("**Configuration error:**") and message in error, error
    assert not at.get("plotly_chart")


BANNERS = [
    ("coverage", "[alerts]\ncoverage_min = 1000\n", "[alerts]\ncoverage_min = 0\n", "Pipeline coverage is below"),
    ("accuracy", "[alerts]\naccuracy_min_pct = 101\n", "[alerts]\naccuracy_min_pct = 0\n", "Forecast accuracy in"),
    ("changes", "[alerts]\nchange_pct = 0\nchange_min_amount = 0\n",
     "[alerts]\nchange_pct = 1000\nchange_min_amount = 1e12\n", "call\\(s\\) moved"),
    ("data", "[alerts]\nstale_after_hours = 0\n", "[alerts]\nstale_after_hours = 1000\n", "The data is"),
]


@pytest.mark.parametrize("page, crossed, calm, text", BANNERS, ids=[b[0] for b in BANNERS])
def test_each_banner_appears_exactly_when_its_threshold_is_crossed(make_app, page, crossed, calm, text):
    def banners(config: str, on: str) -> str:
        stop_process_services()
        at = run(make_app(config), on)
        return " ".join(texts(at.warning) + texts(at.error))

    assert text in banners(crossed, f"views/{page}.py")
    assert text in banners(crossed, "views/overview.py")  # the Overview shows every alert
    assert text not in banners(calm, f"views/{page}.py")
    other = "views/reps.py"
    assert text not in banners(crossed, other)  # a page shows only its own alerts


def test_a_failed_last_refresh_and_a_bad_export_raise_banners(make_app):
    at = run(make_app())
    wh = process_service(load_settings()).warehouse
    run_id = wh.start_run("schedule")
    wh.record_attempt(run_id, forecast_id="net_arr", requested_period=None, started_at=datetime(2026, 1, 1),
                      status="failed", failure_kind="truncated", error="Clari cut the export short")
    wh.finish_run(run_id, outcome="failed", error="net_arr current quarter: Clari cut the export short")
    errors = " ".join(texts(run(at, "views/data.py").error))
    assert "The last refresh failed" in errors and "Clari cut the export short" in errors
    assert "came back empty or truncated" in errors


def test_names_from_clari_render_as_text(make_app, tmp_path):
    at = run(make_app("[alerts]\ncoverage_min = 5\n", db=hostile_warehouse(tmp_path)), "views/coverage.py")
    banner = " ".join(texts(at.warning))
    assert "\\*\\*bold\\*\\* \\[link\\]\\(http\\:" in banner and "\\$x\\$" in banner
    assert "\\<img src\\=x onerror\\=alert\\(1\\)\\>" in banner
    assert "<img" not in banner.replace("\\<img", "")
    options = at.selectbox(key="team").options
    assert "<script>alert('x')</script>" in options  # shown as plain text in the widget


def test_refresh_now_runs_once_and_the_history_shows_it(make_app):
    at = run(make_app("[schedule]\nmanual_cooldown_seconds = 600\n"), "views/data.py")
    svc = process_service(load_settings())
    before = sql_value(svc.warehouse, "SELECT count(*) FROM runs")
    at.button(key="refresh-now").click().run()
    deadline = time.monotonic() + 30
    while (svc.state().running or sql_value(svc.warehouse, "SELECT count(*) FROM runs") == before) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sql_value(svc.warehouse, "SELECT count(*) FROM runs WHERE trigger = 'manual'") == 1
    at.run()
    button = at.button(key="refresh-now")
    assert button.disabled  # cooling down
    assert any("next manual refresh is allowed in" in c.value for c in at.caption)


def test_one_scheduler_across_many_sessions(make_app):
    for _ in range(5):
        run(make_app())
    assert running_schedulers() == 1
