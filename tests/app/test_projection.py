"""/projection through AppTest on a warehouse filled by two demo refreshes: the fan chart, the
per-person table with its flag and CSV, the back-test sentence and table, the band banner, and
the page as of a past export."""

from __future__ import annotations

import pytest
from apptest_helpers import run, texts, url
from support import sql_value

from clari_data.read import analytics
from clari_data.read.asof import as_of_of_export
from clari_data.runtime.scheduler import process_service
from clari_data.shared.config import load_settings

SCRIPT = "views/projection.py"
CONFIG = "[clari]\nperiods_back = 3\n"  # three ended quarters: the newest is back-tested on the two before


@pytest.fixture
def app(make_app, demo_warehouse):
    db = demo_warehouse(CONFIG)
    return lambda: make_app(CONFIG, db=db)


def warehouse():
    return process_service(load_settings()).warehouse


def plain(values) -> str:
    return " ".join(texts(values)).replace("\\", "")


def test_the_page_shows_the_fan_the_people_and_the_back_test(app):
    at = run(app(), SCRIPT)
    assert at.title[0].value == "Projection"
    assert len(at.get("plotly_chart")) == 1
    labels = [m.label for m in at.metric]
    assert labels == ["P10", "P50 (projection)", "P90", "Commit call", "P50 − call"]
    assert all(m.value.startswith("$") for m in at.metric[:4])
    wh = warehouse()
    forecast = sql_value(wh, "SELECT min(forecast_id) FROM exports")
    people = sql_value(wh, f"SELECT count(*) FROM forecast_projection WHERE forecast_id = '{forecast}'")
    table = at.dataframe[0].value
    assert len(table) == people
    assert {"user_name", "call_amount", "p50_amount", "band", "p50_minus_call", "call_outside",
            "quarters_used"} <= set(table.columns)
    assert set(table["call_outside"]) <= {"above", "below", ""}
    sentence = plain(at.markdown)
    assert "past quarter" in sentence and "the 80% band held" in sentence and "than the call" in sentence
    assert "How it works" in sentence and "ln(final closed won / commit call" in sentence
    assert len(at.get("download_button")) == 2  # the people and the back-test


def test_the_band_banner_names_the_calls_outside_their_band(app):
    at = run(app(), SCRIPT)
    banners = [w for w in texts(at.warning) if "own P10-P90 band" in w.replace("\\", "")]
    wh = warehouse()
    outside = sql_value(wh, "SELECT count(*) FROM forecast_projection "
                            "WHERE call_amount > p90_amount OR call_amount < p10_amount")
    assert len(banners) == (1 if outside else 0)
    if outside:
        assert f"{outside} of " in banners[0]


def test_the_page_as_of_a_past_export(app):
    app()
    wh = warehouse()
    forecast = sql_value(wh, "SELECT min(forecast_id) FROM exports")
    period = analytics.periods(wh, forecast)["time_period"].iloc[0]
    first = analytics.exports_of(wh, forecast, period)["exported_at"].iloc[-1]
    moment = as_of_of_export(first).text
    at = run(app(), SCRIPT, as_of=moment)
    assert url(at) == {"as_of": [moment]}
    assert "As of **" in plain(at.info)
    assert len(at.get("plotly_chart")) == 1 and at.dataframe
    assert "the 80% band held" in plain(at.markdown)
