"""Formatting of numbers and of text from the data for Streamlit's Markdown-rendering widgets."""

from __future__ import annotations

import re
from datetime import date, datetime

import pandas as pd

from clari_data.shared import money as _money
from clari_data.shared.money import DASH as DASH
from clari_data.shared.money import is_missing as _missing
from clari_data.shared.timeutil import naive_utc

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")
# GFM turns bare URLs, www. addresses and e-mail addresses into links even when their characters are
# escaped; an invisible zero-width space breaks each pattern without changing what is shown.
_AUTOLINK = re.compile(r"(?i)(://|@|\bwww\.)")
_ZWSP = "\u200b"


def _break_autolink(match: re.Match) -> str:
    found = match.group(1)
    return ":" + _ZWSP + "//" if found == "://" else _ZWSP + "@" if found == "@" else found[:3] + _ZWSP + "."


def md_text(text: object) -> str:
    """Text from the data, safe inside st.markdown / st.warning / st.error: every Markdown, HTML and
    LaTeX ($) character is escaped and no URL or address turns into a link, so a rep called
    `**bold**`, `<script>` or `[x](http://evil)` shows those characters."""
    text = _AUTOLINK.sub(_break_autolink, str(text))
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\r", " ").replace("\n", " ")


# What a spreadsheet reads as the start of a formula (OWASP "CSV injection"): = + - @, and tab and
# carriage return, which some programs strip before looking.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell as written to a CSV download: text that a spreadsheet would run as a formula gets a
    leading apostrophe (shown as text, the usual defence); anything that is not text stays as it is,
    so numbers remain numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(df: pd.DataFrame) -> bytes:
    """The table as a CSV download, every text cell through `csv_cell`."""
    safe = df.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_datetime64_any_dtype(safe[column]):
            safe[column] = safe[column].map(csv_cell)
    return safe.to_csv(index=False).encode()


# The pages' money styles (clari_data/shared/money.py): "$1.23K" in metrics and text, "$5,000" where
# the exact amount is the point (a configured threshold).
money = _money.compact
money_full = _money.full


def percent(value: float | None, digits: int = 0) -> str:
    return DASH if _missing(value) else f"{value:.{digits}f}%"


def ratio(value: float | None) -> str:
    return DASH if _missing(value) else f"{value:.1f}x"


def age(then: datetime | None, now: datetime | None = None) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((naive_utc(now) - naive_utc(then)).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds // 86400} days ago"


def signed(shown: str, value: float) -> str:
    """A change as st.metric's delta reads it: a leading minus is a drop, anything else a rise."""
    return shown if value < 0 else f"+{shown}"


def money_change(value: float | None) -> str | None:
    """A money delta for st.metric ("+$1.20K", "-$3.00M"); None (no delta shown) when unknown."""
    return None if _missing(value) else _money.compact(value, signed=True)


def points_change(value: float | None) -> str | None:
    """A change of a percentage, in percentage points."""
    return None if _missing(value) else signed(f"{value:.1f} pts", value)


def ratio_change(value: float | None) -> str | None:
    return None if _missing(value) else signed(f"{value:.2f}x", value)


def day_month(day: date | datetime | None) -> str:
    """30 Nov."""
    if _missing(day):
        return DASH
    return f"{day.day} {day:%b}"


def week_label(start: date | datetime | None) -> str:
    """A week of the quarter by its first day: "week of 30 Nov"."""
    return DASH if _missing(start) else f"week of {day_month(start)}"


def moment(when: datetime | None, *, simulated: bool = False) -> str:
    """An export or refresh time, "Mon 30 Nov 2026, 06:00 UTC", marked when it is the demo
    simulator's clock rather than the wall's."""
    if _missing(when):
        return DASH
    when = naive_utc(when)
    return f"{when:%a} {when.day} {when:%b %Y, %H:%M} UTC" + (" (simulated)" if simulated else "")
