"""Fiscal quarter ids (`YYYY_QN`) and their weeks.

Period ids are what Clari names them; arithmetic on ids (the quarter before) works for any fiscal
calendar. Dates (`quarter_bounds`, `week_frames`) assume the calendar-year quarters the simulator
uses; a real tenant's dates always come from its export.
"""

from __future__ import annotations

from datetime import date, timedelta

from .config import check_period


def period_id(year: int, quarter: int) -> str:
    return f"{year}_Q{quarter}"


def parse_period(period: str) -> tuple[int, int]:
    check_period(period)
    year, q = period.split("_Q")
    return int(year), int(q)


def shift_period(period: str, quarters: int) -> str:
    """The period `quarters` after (negative: before) `period`."""
    year, q = parse_period(period)
    index = year * 4 + (q - 1) + quarters
    return period_id(index // 4, index % 4 + 1)


def periods_ending_at(current: str, periods_back: int) -> list[str]:
    """`current` and the `periods_back` quarters before it, newest first."""
    return [shift_period(current, -n) for n in range(periods_back + 1)]


def quarter_of(day: date) -> str:
    return period_id(day.year, (day.month - 1) // 3 + 1)


def quarter_bounds(period: str) -> tuple[date, date]:
    year, q = parse_period(period)
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + (q == 4), (3 * q) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def week_frames(period: str) -> list[tuple[str, date, date]]:
    """(timeFrameId, start, end) for each week of the quarter, Monday to Sunday.

    Week 1 starts on the Monday on or before the quarter's first day, as Clari's weeks may.
    """
    start, end = quarter_bounds(period)
    monday = start - timedelta(days=start.weekday())
    frames = []
    while monday <= end:
        frames.append((f"TF:{monday.isoformat()}", monday, monday + timedelta(days=6)))
        monday += timedelta(days=7)
    return frames
