"""Money as the product shows it, in every place that shows it: pages (ui/format), chart labels
(read/charts), banners (shared/rules) and the messages built from them (alerting/notify).

Three styles, each optionally signed for a move ("+" for a rise or no change, "-" for a drop):

- `full`: whole dollars, "$1,234,567": thresholds, banners, messages, a quota line's label.
- `compact`: three significant digits in the largest unit that keeps the number under 1,000,
  "$1.23K", "$45.0M", "$1.00B": the metrics and text of the pages.
- `short`: `compact` without trailing zeros, "$1.2M", "$250K", "$1M": labels on chart bars.

The unit is chosen after rounding, so an amount that rounds up to 1,000 of a unit carries to the
next one: $999,999 is "$1.00M", never "$1,000K" (nor Python's "$1e+03K"). Below $1,000 the whole
dollars are exact. A sign is judged after rounding too: -$0.40 is "$0", not "-$0". Missing
amounts (None, NaN, pandas' NA) show as `DASH`. Streamlit's table cells (NumberColumn
format="dollar") and Plotly's axes and hover text format in the browser, outside this module.
"""

from __future__ import annotations

import math
import sys

DASH = "–"  # what a missing value shows as, in text and in table cells

_UNITS = ((1.0, ""), (1e3, "K"), (1e6, "M"), (1e9, "B"))


def is_missing(value: object) -> bool:
    """None, NaN, or pandas' NaT or NA. Without importing pandas: the banners' rules (shared/rules.py)
    format money and are imported by the configuration, which a refresh process loads without it;
    a value can only be pandas' NaT or NA once pandas is loaded."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NaT or value is pandas.NA)


def _signed(digits: str, negative: bool, signed: bool) -> str:
    """`digits` already rounded: zero shows no minus, whatever the amount's sign was."""
    if negative and any(c in "123456789" for c in digits):
        return "-$" + digits
    return ("+$" if signed else "$") + digits


def full(value: float | None, *, signed: bool = False) -> str:
    """Whole dollars: "$1,234,567", signed "+$7,000" / "-$20,000"."""
    if is_missing(value):
        return DASH
    return _signed(f"{abs(value):,.0f}", value < 0, signed)


def _three_digits(amount: float) -> tuple[str, str]:
    """A non-negative amount as (digits, unit suffix): three significant digits in the smallest unit
    whose rounded number stays under 1,000 (the largest unit, B, takes any size)."""
    for size, suffix in _UNITS:
        scaled = amount / size
        # Decimals judged before rounding so that rounding cannot add a fourth digit: 9.996 -> 10.0.
        decimals = 0 if not suffix else 2 if scaled < 9.995 else 1 if scaled < 99.95 else 0
        digits = f"{scaled:,.{decimals}f}"
        if float(digits.replace(",", "")) < 1000 or suffix == _UNITS[-1][1]:
            return digits, suffix
    raise AssertionError("unreachable: the last unit takes any amount")


def compact(value: float | None, *, signed: bool = False) -> str:
    """Three significant digits: "$999", "$1.00K", "$12.3M", "$1,234B"; signed "+$1.20K" / "-$3.00M"."""
    if is_missing(value):
        return DASH
    digits, suffix = _three_digits(abs(value))
    return _signed(digits, value < 0, signed) + suffix


def short(value: float | None, *, signed: bool = False) -> str:
    """`compact` without trailing zeros: "$1M", "$1.2M", "$250K"; signed "+$20K" / "-$100K"."""
    if is_missing(value):
        return DASH
    digits, suffix = _three_digits(abs(value))
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return _signed(digits, value < 0, signed) + suffix
