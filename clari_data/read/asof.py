"""The `as_of` and `from` URL parameters, read without touching the data.

`as_of` opens any page as it stood at a past instant: an ISO date (`2026-11-23`, the end of that
day UTC) or date-time (`2026-11-23T14:00:00`, UTC unless it names an offset). `from` is where the
/changes waterfall starts: an ISO date or one of `previous`, `week`, `quarter`.

Parsing is pure: the caller passes the clock and the first and latest export times, and gets back
either a value to use or a `Notice` to show. Nothing here raises on a bad value, and a value only
ever leaves as a `datetime` or one of the known words, so no text from a link reaches SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from clari_data.shared.timeutil import naive_utc

FROM_WORDS = ("previous", "week", "quarter")
DEFAULT_FROM = "week"
_SHOWN = 40
# The shapes people write, and nothing else: datetime.fromisoformat alone would also take ISO week
# dates ("2026-W48-1"), basic forms ("20261123") and non-ASCII digits.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                       r"(Z|[+-][0-9]{2}:[0-9]{2})?", re.ASCII)
SHAPES = "a date like 2026-11-23 or a UTC time like 2026-11-23T14:00:00"


def utc_label(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class AsOf:
    """A valid `as_of`: the data shown is that of the latest export taken at or before `moment`."""

    moment: datetime  # naive UTC
    text: str  # its form in the URL: "2026-11-23" or "2026-11-23T14:00:00"

    @property
    def is_date(self) -> bool:
        return "T" not in self.text


@dataclass(frozen=True)
class Notice:
    """Why a link's value cannot be used; the page shows `message()` and the default."""

    param: str  # "as_of" or "from"
    value: str  # the value as given, cut short for showing
    problem: str  # "is not a date ...", "is in the future", ...
    reference: datetime | None = None  # a time the problem names (the first export)
    fallback: str = "the latest data"

    def message(self, when: Callable[[datetime], str] = utc_label, latest: datetime | None = None) -> str:
        problem = self.problem.format(reference=when(self.reference) if self.reference else "")
        shown = self.fallback + (f" (the export of {when(latest)})" if latest is not None else "")
        return f"The link's {self.param} “{self.value}” {problem}; showing {shown}."


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def parse_moment(text: str) -> tuple[datetime, bool] | None:
    """(naive UTC moment, whether only a date was given), or None when `text` is no such moment."""
    try:
        if _DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), time.max), True
        if _DATETIME.fullmatch(text):
            return naive_utc(datetime.fromisoformat(text)), False
    except ValueError:  # shaped right, but no such day or hour: 2026-02-30, 25:00
        return None
    return None


def canonical(moment: datetime) -> str:
    """An instant as it goes into the URL: whole seconds unless it has a fraction."""
    return moment.isoformat(timespec="seconds" if not moment.microsecond else "microseconds")


def parse_as_of(text: str | None, *, now: datetime, first: datetime | None, latest: datetime | None) -> AsOf | Notice:
    """The `as_of` of a link. `now` is the clock the exports are on (the simulator's in demo mode),
    `first` and `latest` the first and latest export times of the warehouse (None: no data yet)."""
    text = (text or "").strip()
    parsed = parse_moment(text) if len(text) <= _SHOWN else None
    if parsed is None:
        return Notice("as_of", _shown(text), f"is not {SHAPES}")
    moment, only_date = parsed
    now = naive_utc(now)
    if first is None or latest is None:
        return Notice("as_of", text, "cannot be shown: no data has been loaded yet", fallback="the first data to land")
    future = moment.date() > now.date() if only_date else moment > max(now, naive_utc(latest))
    if future:
        return Notice("as_of", text, "is in the future")
    if moment < naive_utc(first):
        return Notice("as_of", text, "is before the first export ({reference})", reference=naive_utc(first))
    return AsOf(moment, text if only_date else canonical(moment))


def as_of_of_export(exported_at: datetime) -> AsOf:
    """The `as_of` that shows this export: its time, rounded up to a whole second so the link stays
    short (no two exports of a forecast and period land within one second)."""
    moment = naive_utc(exported_at)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return AsOf(moment, canonical(moment))


def as_of_of_day(day: date) -> AsOf:
    """The `as_of` of the end of a day."""
    return AsOf(datetime.combine(day, time.max), day.isoformat())


def parse_from(text: str | None) -> str | Notice:
    """The waterfall's start in a link: `previous`, `week`, `quarter` or an ISO date (as given)."""
    text = (text or "").strip()
    if text in FROM_WORDS:
        return text
    if len(text) <= _SHOWN and _DATE.fullmatch(text):
        try:
            date.fromisoformat(text)
            return text
        except ValueError:
            pass
    return Notice("from", _shown(text), "is not a date like 2026-11-23 nor one of " + ", ".join(FROM_WORDS),
                  fallback=f"the changes since the start of the {DEFAULT_FROM}")

