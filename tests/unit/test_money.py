"""clari_data/shared/money.py: the one money formatter, in each style, around every unit boundary.

The rows are the amounts where a formatter goes wrong: the last amount of a unit, the first that
rounds into the next (999,499 stays $999K, 999,500 carries to $1.00M), and beyond the largest unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clari_data.shared import money

# value: (full, compact, short)
SHOWN = {
    0: ("$0", "$0", "$0"),
    5: ("$5", "$5", "$5"),
    999: ("$999", "$999", "$999"),
    999.4: ("$999", "$999", "$999"),
    999.6: ("$1,000", "$1.00K", "$1K"),
    1_000: ("$1,000", "$1.00K", "$1K"),
    1_234: ("$1,234", "$1.23K", "$1.23K"),
    9_994: ("$9,994", "$9.99K", "$9.99K"),
    9_999: ("$9,999", "$10.0K", "$10K"),
    12_345: ("$12,345", "$12.3K", "$12.3K"),
    99_999: ("$99,999", "$100K", "$100K"),
    250_000: ("$250,000", "$250K", "$250K"),
    996_000: ("$996,000", "$996K", "$996K"),
    999_499: ("$999,499", "$999K", "$999K"),
    999_500: ("$999,500", "$1.00M", "$1M"),
    999_999: ("$999,999", "$1.00M", "$1M"),
    1_000_000: ("$1,000,000", "$1.00M", "$1M"),
    1_170_000: ("$1,170,000", "$1.17M", "$1.17M"),
    1_200_000: ("$1,200,000", "$1.20M", "$1.2M"),
    999_499_999: ("$999,499,999", "$999M", "$999M"),
    999_999_999: ("$999,999,999", "$1.00B", "$1B"),
    45_000_000_000: ("$45,000,000,000", "$45.0B", "$45B"),
    1_234_000_000_000: ("$1,234,000,000,000", "$1,234B", "$1,234B"),  # no unit above B
}
STYLES = {"full": money.full, "compact": money.compact, "short": money.short}
CASES = [(style, value, shown[i]) for value, shown in SHOWN.items() for i, style in enumerate(STYLES)]


@pytest.mark.parametrize("style, value, shown", CASES)
def test_each_style_around_each_unit(style, value, shown):
    assert STYLES[style](value) == shown


@pytest.mark.parametrize("style, value, shown", CASES)
def test_a_negative_amount_reads_as_its_positive_with_a_minus(style, value, shown):
    if value == 0:
        assert (STYLES[style](-value), STYLES[style](-value, signed=True)) == ("$0", "+$0")
    else:
        assert STYLES[style](-value) == STYLES[style](-value, signed=True) == "-" + shown


@pytest.mark.parametrize("style, value, shown", CASES)
def test_signed_marks_a_rise_or_no_change_with_a_plus(style, value, shown):
    assert STYLES[style](value, signed=True) == "+" + shown


@pytest.mark.parametrize("style", STYLES)
def test_an_amount_that_rounds_to_zero_has_no_minus(style):
    assert STYLES[style](-0.4) == "$0"
    assert STYLES[style](-0.4, signed=True) == "+$0"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("value", [np.int64(999_999), np.float64(999_999.0)])
def test_numpy_numbers_read_like_python_ones(style, value):
    assert STYLES[style](value) == STYLES[style](999_999)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("value", [None, float("nan"), np.nan, np.float64("nan"), pd.NA, pd.NaT])
def test_a_missing_amount_is_a_dash(style, value):
    assert STYLES[style](value) == money.DASH == "–"
    assert STYLES[style](value, signed=True) == money.DASH
