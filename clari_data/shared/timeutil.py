"""Time in one convention: the warehouse stores UTC as naive timestamps (DuckDB TIMESTAMP)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def naive_utc(moment: datetime | None = None) -> datetime:
    """`moment` (default: now) as a naive UTC datetime, the form every stored timestamp takes.

    An aware moment is converted to UTC first; a naive one is taken to be UTC already.
    """
    moment = moment or utc_now()
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
