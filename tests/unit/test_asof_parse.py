"""clari_data/read/asof.py: the `as_of` and `from` link values, parsed without the data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from clari_data.read.asof import AsOf, Notice, as_of_of_day, as_of_of_export, parse_as_of, parse_from

NOW = datetime(2026, 12, 1, 9, 30)
FIRST = datetime(2026, 10, 1, 6, 0)
LATEST = datetime(2026, 12, 1, 6, 0)


def parse(text):
    return parse_as_of(text, now=NOW, first=FIRST, latest=LATEST)


@pytest.mark.parametrize("text, moment, canonical", [
    ("2026-11-23", datetime(2026, 11, 23, 23, 59, 59, 999999), "2026-11-23"),  # the end of that day, UTC
    ("2026-11-23T14:00:00", datetime(2026, 11, 23, 14), "2026-11-23T14:00:00"),
    ("2026-11-23T14:00", datetime(2026, 11, 23, 14), "2026-11-23T14:00:00"),
    ("2026-11-23 14:00:00", datetime(2026, 11, 23, 14), "2026-11-23T14:00:00"),
    ("2026-11-23T14:00:00Z", datetime(2026, 11, 23, 14), "2026-11-23T14:00:00"),
    ("2026-11-23T15:00:00+01:00", datetime(2026, 11, 23, 14), "2026-11-23T14:00:00"),  # an offset is honoured
    ("2026-11-23T14:00:00.250000", datetime(2026, 11, 23, 14, 0, 0, 250000), "2026-11-23T14:00:00.250000"),
    ("  2026-11-23  ", datetime(2026, 11, 23, 23, 59, 59, 999999), "2026-11-23"),
    ("2026-10-01", datetime(2026, 10, 1, 23, 59, 59, 999999), "2026-10-01"),  # the first export's day
    ("2026-10-01T06:00:00", FIRST, "2026-10-01T06:00:00"),  # exactly the first export
    ("2026-12-01", datetime(2026, 12, 1, 23, 59, 59, 999999), "2026-12-01"),  # today: not the future
    ("2026-12-01T09:30:00", NOW, "2026-12-01T09:30:00"),  # now itself
])
def test_valid_values(text, moment, canonical):
    got = parse(text)
    assert got == AsOf(moment, canonical)
    assert got.moment.tzinfo is None  # naive UTC, like every stored time
    assert got.is_date is (len(canonical) == 10)


@pytest.mark.parametrize("text", [
    "", "   ", None, "yesterday", "2026-13-01", "2026-02-30", "2026-11-23T25:00", "2026/11/23", "23.11.2026",
    "20261123", "2026-W48-1", "2026-11-23T14", "2026-11-23X14:00", "٢٠٢٦-١١-٢٣", "2026-11-23'; DROP TABLE exports;--",
    "x" * 10_000, "2026-11-23\x00", "1 OR 1=1", "-1", "2026-11-23T14:00:00+25:00",
])
def test_values_that_are_not_dates_give_a_notice(text):
    got = parse(text)
    assert isinstance(got, Notice) and got.param == "as_of"
    message = got.message(latest=LATEST)
    assert message.startswith("The link's as_of “") and "is not a date like 2026-11-23" in message
    assert message.endswith("showing the latest data (the export of 2026-12-01 06:00 UTC).")
    assert len(message) < 300  # a long value is not echoed whole


def test_before_the_first_export_says_when_the_data_starts():
    got = parse("2026-09-30")
    assert isinstance(got, Notice)
    assert got.message(latest=LATEST) == ("The link's as_of “2026-09-30” is before the first export "
                                          "(2026-10-01 06:00 UTC); showing the latest data (the export of "
                                          "2026-12-01 06:00 UTC).")
    assert isinstance(parse("2026-10-01T05:59:59"), Notice)


@pytest.mark.parametrize("text", ["2026-12-02", "2026-12-01T09:31:00", "2099-01-01", "2026-12-01T10:00:00+00:00"])
def test_the_future_gives_a_notice(text):
    got = parse(text)
    assert isinstance(got, Notice) and "is in the future" in got.message()


def test_the_clock_is_the_one_passed_in():
    """In demo mode the exports are on the simulator's clock, which may run ahead of the wall."""
    later = parse_as_of("2026-12-05", now=datetime(2026, 12, 6, tzinfo=UTC), first=FIRST, latest=LATEST)
    assert later == AsOf(datetime(2026, 12, 5, 23, 59, 59, 999999), "2026-12-05")
    # An export taken after `now` (a clock that moved on) is still not the future.
    ahead = parse_as_of("2026-12-03T06:00:00", now=NOW, first=FIRST, latest=datetime(2026, 12, 3, 6))
    assert ahead == AsOf(datetime(2026, 12, 3, 6), "2026-12-03T06:00:00")


def test_without_data_nothing_can_be_shown_as_of():
    got = parse_as_of("2026-11-23", now=NOW, first=None, latest=None)
    assert isinstance(got, Notice) and "no data has been loaded yet" in got.message()


def test_the_message_takes_the_page_s_way_of_writing_times():
    got = parse("2026-09-30")
    simulated = got.message(when=lambda t: f"{t:%d %b %H:%M} (simulated)", latest=LATEST)
    assert "(01 Oct 06:00 (simulated))" in simulated and "(the export of 01 Dec 06:00 (simulated))" in simulated


def test_an_export_and_a_day_as_as_of():
    assert as_of_of_export(datetime(2026, 11, 23, 6, 0)) == AsOf(datetime(2026, 11, 23, 6), "2026-11-23T06:00:00")
    # A fraction of a second rounds up: the link stays short and still includes the export.
    assert as_of_of_export(datetime(2026, 11, 23, 6, 0, 0, 20000)) == AsOf(datetime(2026, 11, 23, 6, 0, 1),
                                                                           "2026-11-23T06:00:01")
    assert as_of_of_export(datetime(2026, 11, 23, 7, tzinfo=UTC)).moment == datetime(2026, 11, 23, 7)
    assert as_of_of_day(date(2026, 11, 23)) == parse("2026-11-23")
    # What the URL gets back parses to the same instant.
    exported = as_of_of_export(datetime(2026, 11, 23, 6, 0, 0, 5))
    assert parse(exported.text) == exported


@pytest.mark.parametrize("text", ["previous", "week", "quarter", "2026-11-02", " week "])
def test_from_takes_the_three_words_and_dates(text):
    assert parse_from(text) == text.strip()


@pytest.mark.parametrize("text", ["", None, "month", "Week", "2026-11-31", "2026-11-02T00:00", "'; --", "x" * 5000])
def test_a_bad_from_gives_a_notice(text):
    got = parse_from(text)
    assert isinstance(got, Notice) and got.param == "from"
    message = got.message()
    assert message.startswith("The link's from “") and "previous, week, quarter" in message
    assert message.endswith("showing the changes since the start of the week.") and len(message) < 300
