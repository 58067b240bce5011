"""Fiscal quarter ids (`YYYY_QN`) and their weeks.

Period ids are what Clari names them; arithmetic on ids (the quarter before) works for any fiscal
calendar. Dates come from a `FiscalCalendar`, which the simulator uses to make its tenant's; a
real tenant's dates always come from its export.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class FiscalCalendar:
    """Fiscal quarters of a year that starts on the 1st of `start_month` (1 = January).

    The rule: the fiscal year is named after the calendar year it ends in, as GitLab's is, and
    its quarters are the consecutive three-month blocks from `start_month`. With
    `start_month=2`, FY2027 runs from 1 February 2026 to 31 January 2027, so

        2027_Q1 = Feb-Apr 2026, 2027_Q2 = May-Jul 2026, 2027_Q3 = Aug-Oct 2026,
        2027_Q4 = Nov 2026-Jan 2027 (January 2027 belongs to the fiscal year that ends in it),

    and 1 February 2027 starts 2028_Q1. In general a day in calendar year Y and month M lies in
    fiscal year Y + 1 if M >= start_month > 1, else in Y; its quarter is
    (M - start_month) mod 12 // 3 + 1. With `start_month=1` the fiscal year is the calendar
    year (2026_Q1 = Jan-Mar 2026), the calendar the simulator has always used.

    Weeks run Monday to Sunday, as Clari's weeks start on a fixed weekday: week 1 of a quarter
    is the week holding its first day, so it starts before that day unless the quarter starts
    on a Monday, and the last week may run past the quarter's last day.
    """

    start_month: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.start_month, bool) or not isinstance(self.start_month, int) \
                or not 1 <= self.start_month <= 12:
            raise ValueError(f"the fiscal year's start month must be 1-12, not {self.start_month!r}")

    def quarter_of(self, day: date) -> str:
        months_in = (day.month - self.start_month) % 12
        starts_in = day.year if day.month >= self.start_month else day.year - 1
        return period_id(starts_in + (self.start_month > 1), months_in // 3 + 1)

    def bounds(self, period: str) -> tuple[date, date]:
        """The quarter's first and last day."""
        fiscal_year, q = parse_period(period)
        starts_in = fiscal_year - (self.start_month > 1)
        first = self._month_start(starts_in, self.start_month - 1 + 3 * (q - 1))
        after = self._month_start(starts_in, self.start_month - 1 + 3 * q)
        return first, after - timedelta(days=1)

    def week_frames(self, period: str) -> list[tuple[str, date, date]]:
        """(timeFrameId, start, end) of each week of the quarter, week 1 first."""
        start, end = self.bounds(period)
        monday = start - timedelta(days=start.weekday())
        frames = []
        while monday <= end:
            frames.append((f"TF:{monday.isoformat()}", monday, monday + timedelta(days=6)))
            monday += timedelta(days=7)
        return frames

    @staticmethod
    def _month_start(year: int, months_after_january: int) -> date:
        return date(year + months_after_january // 12, months_after_january % 12 + 1, 1)
