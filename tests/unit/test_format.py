"""ui/format.py: escaping text from the data for Streamlit's Markdown widgets, and number formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ui.format import age, md_text, money, percent, ratio

MISSING = [None, float("nan"), np.nan, np.float64("nan")]

# -- md_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, escaped", [
    ("**bold**", r"\*\*bold\*\*"),
    ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
    ("<b>Max</b>", r"\<b\>Max\</b\>"),
    ("[x](http://e.vil)", "\\[x\\]\\(http\\:\u200b//e\\.vil\\)"),  # a zero-width space stops the autolink
    ("www.e.vil ana@e.vil", "www\u200b\\.e\\.vil ana\u200b@e\\.vil"),
    ("![img](x.png)", r"\!\[img\]\(x\.png\)"),
    ("$5 and $6", r"\$5 and \$6"),
    ("# heading", r"\# heading"),
    ("`code`", r"\`code\`"),
    ("snake_case_name", r"snake\_case\_name"),
    ("~~gone~~", r"\~\~gone\~\~"),
    ("a|b", r"a\|b"),
    ("- item", r"\- item"),
    ("+ item", r"\+ item"),
    ("1. item", r"1\. item"),
    ("{x}", r"\{x\}"),
    ("a=b", r"a\=b"),
    (":smile:", r"\:smile\:"),
    ("back\\slash", "back\\\\slash"),
    ("Ann Smith 42", "Ann Smith 42"),
])
def test_md_text_escapes_every_special_character(text, escaped):
    assert md_text(text) == escaped


def test_md_text_turns_newlines_into_spaces():
    assert md_text("Max\n# heading\n\n**x**") == r"Max \# heading  \*\*x\*\*"


def test_md_text_of_non_strings():
    assert md_text(12.5) == r"12\.5"
    assert md_text(None) == "None"
    assert md_text(ValueError("bad [clari] key")) == r"bad \[clari\] key"


# -- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [
    (0, "$0"),
    (5, "$5"),
    (999, "$999"),
    (999.4, "$999"),
    (1_000, "$1.00K"),
    (1_234, "$1.23K"),
    (9_876, "$9.88K"),
    (12_345, "$12.3K"),
    (994_949, "$995K"),
    (1_000_000, "$1.00M"),
    (2_500_000, "$2.50M"),
    (12_345_678, "$12.3M"),
    (1_000_000_000, "$1.00B"),
    (3_210_000_000, "$3.21B"),
    (45_000_000_000, "$45.0B"),
    (1_234_000_000_000, "$1,234B"),
    (-5, "-$5"),
    (-1_234, "-$1.23K"),
    (-2_500_000.0, "-$2.50M"),
    (-45_000_000_000, "-$45.0B"),
])
def test_money_at_each_magnitude_and_sign(value, shown):
    assert money(value) == shown


@pytest.mark.parametrize("value, shown", [
    (999_949, "$1.00M"),
    (999_999, "$1.00M"),
    (-999_999, "-$1.00M"),
    (999_999_999, "$1.00B"),
])
def test_money_rounding_up_to_the_next_unit_uses_that_unit(value, shown):
    # 999,999 is 1,000.0 thousands at one decimal: shown as $1.00M, never "$1,000.0K".
    assert money(value) == shown


@pytest.mark.parametrize("value", MISSING)
def test_money_missing(value):
    assert money(value) == "–"


# -- percent and ratio -----------------------------------------------------------------------


def test_percent():
    assert percent(12.345) == "12%"
    assert percent(12.345, digits=1) == "12.3%"
    assert percent(-3.0) == "-3%"
    assert percent(0) == "0%"


def test_ratio():
    assert ratio(2.36) == "2.4x"
    assert ratio(0) == "0.0x"
    assert ratio(10) == "10.0x"


@pytest.mark.parametrize("value", MISSING)
def test_percent_and_ratio_missing(value):
    assert percent(value) == "–"
    assert percent(value, digits=2) == "–"
    assert ratio(value) == "–"


# -- age -------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, 0, 0)


@pytest.mark.parametrize("ago, shown", [
    (timedelta(0), "0 s ago"),
    (timedelta(seconds=89), "89 s ago"),
    (timedelta(seconds=90), "1 min ago"),
    (timedelta(minutes=89, seconds=59), "89 min ago"),
    (timedelta(minutes=90), "1.5 h ago"),
    (timedelta(hours=47, minutes=54), "47.9 h ago"),
    (timedelta(hours=48), "2 days ago"),
    (timedelta(days=9, hours=23), "9 days ago"),
    (timedelta(hours=-3), "0 s ago"),  # a clock slightly ahead never shows a negative age
])
def test_age(ago, shown):
    assert age(NOW - ago, NOW) == shown


def test_age_mixes_aware_and_naive_utc():
    assert age(datetime(2026, 3, 10, 9, 0), datetime(2026, 3, 10, 12, 0, tzinfo=UTC)) == "3.0 h ago"
    assert age(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), datetime(2026, 3, 10, 12, 0)) == "3.0 h ago"


def test_age_never():
    assert age(None, NOW) == "never"


# -- changes, dates and times ----------------------------------------------------------------


def test_changes_read_as_st_metric_deltas():
    from ui.format import money_change, points_change, ratio_change

    assert money_change(1_234) == "+$1.23K" and money_change(-2_500_000) == "-$2.50M" and money_change(0) == "+$0"
    assert points_change(2.345) == "+2.3 pts" and points_change(-0.5) == "-0.5 pts"
    assert ratio_change(0.25) == "+0.25x" and ratio_change(-1.5) == "-1.50x"
    for missing in MISSING:  # no delta at all rather than "nan"
        assert money_change(missing) is None and points_change(missing) is None and ratio_change(missing) is None


def test_weeks_by_their_first_day():
    import pandas as pd

    from ui.format import day_month, week_label

    assert week_label(datetime(2026, 11, 30).date()) == "week of 30 Nov"
    assert week_label(pd.Timestamp("2026-01-05")) == "week of 5 Jan"
    assert day_month(datetime(2026, 12, 7)) == "7 Dec"
    for missing in [*MISSING, pd.NaT]:
        assert week_label(missing) == "–" and day_month(missing) == "–"


def test_moments_say_utc_and_whether_they_are_simulated():
    import pandas as pd

    from ui.format import moment

    assert moment(datetime(2026, 11, 30, 6, 5)) == "Mon 30 Nov 2026, 06:05 UTC"
    assert moment(datetime(2026, 11, 30, 7, 5, tzinfo=UTC) + timedelta(hours=1)) == "Mon 30 Nov 2026, 08:05 UTC"
    assert moment(datetime(2026, 11, 30, 6, 5), simulated=True) == "Mon 30 Nov 2026, 06:05 UTC (simulated)"
    assert moment(None) == "–" and moment(pd.NaT) == "–"


def test_missing_values_of_every_kind_show_a_dash():
    import pandas as pd

    assert money(pd.NA) == "–" and percent(pd.NaT) == "–" and ratio(pd.NA) == "–"
