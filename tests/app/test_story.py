"""Every page as of a past export (`as_of`), the labels people read, the Overview's deltas and
pacing, and the /changes waterfall, through AppTest on a warehouse filled by two demo refreshes a
simulated day apart."""

from __future__ import annotations

import re

import pytest
from apptest_helpers import run, texts, url
from support import sql_value

from clari_data.read import analytics
from clari_data.read.asof import as_of_of_export
from clari_data.runtime.scheduler import process_service
from clari_data.shared.config import load_settings
from clari_data.shared.pages import PAGES

SHOWN_AS_OF = [p for p in PAGES if p.name != "data"]  # the Data page is about now, not the forecast


def warehouse():
    return process_service(load_settings()).warehouse


def first_export(make_app):
    """The first export of the default view (the first forecast, its newest period), and that period."""
    make_app()  # the test's own copy of the warehouse
    wh = warehouse()
    forecast = sql_value(wh, "SELECT min(forecast_id) FROM exports")
    period = analytics.periods(wh, forecast)["time_period"].iloc[0]
    exports = analytics.exports_of(wh, forecast, period)
    assert len(exports) == 2, exports
    return exports["exported_at"].iloc[-1], forecast, period


def iso(moment) -> str:
    """The `as_of` the sidebar gives for an export."""
    return as_of_of_export(moment).text


def banner(at) -> str:
    return " ".join(texts(at.info)).replace("\\", "")  # without Markdown escapes


def back_link(at) -> str | None:
    for m in at.markdown:
        found = re.search(r'<a href="([^"]*)" target="_self" data-testid="back-to-latest">', m.value)
        if found:
            return found.group(1)
    return None


@pytest.mark.parametrize("page", SHOWN_AS_OF, ids=[p.name for p in SHOWN_AS_OF])
def test_every_page_opens_as_of_a_past_export(make_app, page):
    first, _, _ = first_export(make_app)
    at = run(make_app(), page.script, as_of=iso(first))
    assert "As of **" in banner(at) and "(simulated)" in banner(at)  # demo times are the simulator's
    assert url(at) == {"as_of": [iso(first)]}  # kept in the address bar
    assert back_link(at) == f"/{page.route}"  # the same view without as_of
    assert at.selectbox(key="as_of").value == iso(first)
    assert not [w for w in texts(at.warning) if "as\\_of" in w]
    if page.name != "changes":  # /changes says there is nothing before the first export
        assert at.get("plotly_chart")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
@pytest.mark.parametrize("value, problem", [
    ("yesterday", "is not a date"), ("2020-01-01", "is before the first export"), ("2999-01-01", "is in the future"),
    ("2026-11-23'; DROP TABLE exports; --", "is not a date"), ("x" * 5000, "is not a date"),
])
def test_a_bad_as_of_shows_a_notice_and_the_latest_data(make_app, page, value, problem):
    at = run(make_app(), page.script, as_of=value)
    notices = [w.replace("\\", "") for w in texts(at.warning) if "as_of" in w.replace("\\", "")]
    assert len(notices) == 1 and problem in notices[0] and "showing the latest data" in notices[0], notices
    assert len(notices[0]) < 400
    assert url(at) == {} and at.selectbox(key="as_of").value is None
    assert "As of **" not in banner(at)
    assert sql_value(warehouse(), "SELECT count(*) FROM exports") == 3  # the data is intact


def test_as_of_survives_moving_between_pages_and_goes_into_the_share_link(make_app):
    first, _, period = first_export(make_app)
    at = run(make_app(), "views/overview.py", as_of=iso(first), period=period)
    for page in ("views/coverage.py", "views/changes.py", "views/data.py", "views/reps.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert url(at)["as_of"] == [iso(first)], page
    assert not at.code  # the link is drawn only once "Share this view" is opened
    at.session_state["share_open"] = True
    at.run()
    share = [c.value for c in at.code if "as_of=" in c.value]
    assert share and f"as_of={iso(first).replace(':', '%3A')}" in share[0]


def test_the_as_of_control_sets_and_clears_the_moment(make_app):
    first, _, _ = first_export(make_app)
    at = run(make_app())
    picker = at.selectbox(key="as_of")
    assert picker.options[0] == "Latest data" and len(picker.options) == 3  # latest, and each export
    assert all("(simulated)" in o for o in picker.options[1:])
    picker.set_value(iso(first)).run()
    assert url(at) == {"as_of": [iso(first)]} and "As of **" in banner(at)
    at.selectbox(key="as_of").set_value(None).run()
    assert url(at) == {} and "As of **" not in banner(at)


def test_a_day_picked_is_the_end_of_that_day(make_app):
    first, _, _ = first_export(make_app)
    at = run(make_app())
    at.date_input(key="_as_of_day").set_value(first.date()).run()
    assert url(at) == {"as_of": [first.date().isoformat()]}
    assert at.selectbox(key="as_of").value == first.date().isoformat()
    assert "As of **" in banner(at)


def test_the_overview_as_of_the_first_export_shows_its_numbers(make_app):
    """The headline as of the first export is that export's; the latest differs where calls moved."""
    first, forecast, period = first_export(make_app)
    latest = run(make_app())
    as_of = run(make_app(), as_of=iso(first))
    wh = warehouse()
    sel = analytics.Selection(forecast, period, as_of=first)
    expected = analytics.headline_of(analytics.weekly_totals(wh, sel))
    from ui.format import money

    metrics = {m.label: m.value for m in as_of.metric}
    assert metrics["Commit"] == money(expected.commit) and metrics["Quota"] == money(expected.quota)
    assert all(m.proto.delta == "" for m in as_of.metric)  # nothing before the first export to compare with
    assert any(m.proto.delta for m in latest.metric)  # the latest has the first to compare with


def test_overview_deltas_colours_and_help(make_app):
    at = run(make_app())
    metrics = {m.label: m for m in at.metric}
    assert list(metrics) == ["Quota", "Closed won", "Gap to quota", "Attainment", "Commit", "Best case",
                             "Open pipeline", "Coverage"]
    from streamlit.proto.Metric_pb2 import Metric

    green, red, gray = Metric.MetricColor.GREEN, Metric.MetricColor.RED, Metric.MetricColor.GRAY
    moved = {label: m for label, m in metrics.items() if m.proto.delta not in ("", "0")}
    assert moved, "two exports a simulated day apart: some headline number moved"
    for label, m in moved.items():
        drop = m.proto.delta.startswith("-")
        if label == "Quota":
            assert m.proto.color == gray  # a new quota is neither good nor bad news
        elif label == "Gap to quota":
            assert m.proto.color == (green if drop else red)  # less left to close is good
        else:
            assert m.proto.color == (red if drop else green), label  # less pipeline, coverage, commit: bad
        assert m.proto.delta_description == "vs. previous export"
    for m in at.metric:
        assert "7 days before" in m.proto.help
        assert "nan" not in m.value.lower() and "none" not in m.value.lower()


def test_labels_people_read(make_app):
    at = run(make_app())
    assert at.selectbox(key="forecast").options[0] == "Net ARR"
    assert all(re.fullmatch(r"Q[1-4] 20[0-9]{2}", o) for o in at.selectbox(key="period").options)
    shown = " ".join(texts(at.subheader) + texts(at.caption) + texts(at.markdown) + texts(at.info))
    assert "net_arr" not in shown and not re.search(r"20[0-9]{2}_Q[1-4]", shown) and "TF:" not in shown
    assert "Net ARR · Q" in " ".join(texts(at.subheader))
    assert re.search(r"latest week: week of [0-9]{1,2} [A-Z][a-z]{2}", " ".join(texts(at.caption)))


def test_pacing_says_where_the_quarter_stands(make_app):
    at = run(make_app())
    sentence = " ".join(texts(at.markdown))
    chart_keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(chart_keys) == 2  # pacing and the weekly trend
    assert re.search(r"points (ahead of|behind) the [1-4]-quarter average at week [0-9]+", sentence) or \
        "No earlier quarter" in " ".join(texts(at.caption))


def test_the_waterfall_starts_where_the_link_says(make_app):
    at = run(make_app(), "views/changes.py", **{"from": "previous"})
    assert at.selectbox(key="_from_pick").value == "previous"
    assert url(at) == {"from": ["previous"]}
    assert at.get("plotly_chart")
    [start] = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("Commit of")]
    assert "from the export of" in start and "(simulated)" in start
    at.selectbox(key="waterfall-field").set_value("best_case").run()
    assert any(c.value.startswith("Best case of") for c in at.caption)
    at.selectbox(key="_from_pick").set_value("quarter").run()
    assert url(at) == {"from": ["quarter"]}
    at.switch_page("views/overview.py").run()
    assert url(at) == {}  # `from` belongs to /changes
    at.switch_page("views/changes.py").run()
    assert url(at) == {"from": ["quarter"]} and at.selectbox(key="_from_pick").value == "quarter"


@pytest.mark.parametrize("value", ["month", "2026-13-01", "'; DROP TABLE exports; --"])
def test_a_bad_from_shows_a_notice_and_the_week(make_app, value):
    at = run(make_app(), "views/changes.py", **{"from": value})
    notices = [w.replace("\\", "") for w in texts(at.warning) if "from" in w]
    assert any("The link's from" in n and "showing the changes since the start of the week" in n for n in notices)
    assert at.selectbox(key="_from_pick").value == "week" and url(at) == {}


def test_csv_files_carry_the_as_of_time(make_app):
    first, forecast, period = first_export(make_app)
    at = run(make_app(), "views/reps.py", as_of=iso(first))
    # A download button's key is "csv-" and its file name (ui.page.table).
    names = [b.proto.id for b in at.get("download_button")]
    stamp = f"as-of-{first:%Y-%m-%dT%H%M}.csv"
    assert names and all(stamp in n and forecast in n and period in n for n in names), names
    latest = run(make_app(), "views/reps.py")
    assert not any("as-of" in b.proto.id for b in latest.get("download_button"))


def test_banners_name_periods_and_forecasts_as_people_read_them(make_app):
    at = run(make_app("[alerts]\naccuracy_min_pct = 101\n"), "views/accuracy.py")
    [banner] = [w for w in texts(at.warning) if "Forecast accuracy in" in w]
    assert re.search(r"Forecast accuracy in Q[1-4] 20[0-9]{2}", banner) and not re.search(r"20[0-9]{2}\\_Q", banner)
