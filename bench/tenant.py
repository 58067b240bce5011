"""The large tenant: a synthetic org, a year of past quarters and a history of daily exports.

Everything is built from `SyntheticOrg` (deterministic for a seed) and loaded with
`Warehouse.load_export`, the loader every refresh uses. The history does not go over HTTP (the
measured refresh does, see `workers.refresh`): 90 downloads would only add loopback time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from clari_data.ingest.simulator import SyntheticOrg
from clari_data.read import analytics
from clari_data.shared.config import EXPORT_TYPES
from clari_data.shared.periods import FiscalCalendar
from clari_data.storage.warehouse import Warehouse

FORECAST = "net_arr"
EXTRA_FIELDS = 2  # 6 base fields + 2 = 8 fields
PAST_QUARTERS = 4
# A fixed quarter, so that every run of the bench measures the same documents: 2025_Q3 runs from
# Tuesday 1 July to Tuesday 30 September (92 days, 14 Monday-based weeks).
QUARTER = "2025_Q3"
EXPORT_HOUR = 20  # exports are taken in the evening (UTC), after the day's updates


@dataclass(frozen=True)
class Plan:
    users: int
    days: int
    seed: int = 11
    quarter: str = QUARTER

    @property
    def first_day(self) -> date:
        return FiscalCalendar().bounds(self.quarter)[0]

    def day_clock(self, day_index: int) -> datetime:
        """The org clock of the daily export number `day_index` (0 = the quarter's first day)."""
        return datetime.combine(self.first_day + timedelta(days=day_index), dtime(EXPORT_HOUR), tzinfo=UTC)

    @property
    def refresh_clock(self) -> datetime:
        """The measured refresh: the evening after the history, in the quarter's last week, so that
        the export holds every week of the quarter (clamped to the quarter's last day)."""
        last_day = FiscalCalendar().bounds(self.quarter)[1]
        last_week_start = FiscalCalendar().week_frames(self.quarter)[-1][1]
        day = max(min(self.first_day + timedelta(days=self.days), last_day), last_week_start)
        return datetime.combine(day, dtime(EXPORT_HOUR), tzinfo=UTC)

    def org(self, now: datetime) -> SyntheticOrg:
        return SyntheticOrg(seed=self.seed, users=self.users, extra_fields=EXTRA_FIELDS, now=now,
                            past_quarters=PAST_QUARTERS, forecasts=(FORECAST,))


def write_export(org: SyntheticOrg, period: str, path: Path) -> dict:
    """The document a refresh downloads: every export type, full weekly history."""
    with path.open("wb") as fh:
        return org.write_export(fh, FORECAST, period, EXPORT_TYPES, True)


def build(plan: Plan, db_path: Path, work: Path, log=print) -> dict:
    """Build the tenant's warehouse at `db_path`; return the storage series and build timings."""
    work.mkdir(parents=True, exist_ok=True)
    doc = work / "export.json"
    started = time.perf_counter()
    org = plan.org(plan.day_clock(0))
    past = org.periods()[1:]
    timings = {"write_s": 0.0, "load_s": 0.0}
    series = []
    with Warehouse(db_path) as wh:
        # The four past quarters, each exported once after it ended (final numbers).
        for period in past:
            t = time.perf_counter()
            write_export(org, period, doc)
            timings["write_s"] += time.perf_counter() - t
            t = time.perf_counter()
            wh.load_export(doc, forecast_id=FORECAST, job_id=f"bench-{period}", requested_period=period,
                           exported_at=org.now)
            timings["load_s"] += time.perf_counter() - t
        before = wh.storage()
        for day in range(plan.days):
            org.now = plan.day_clock(day)
            t = time.perf_counter()
            info = write_export(org, plan.quarter, doc)
            timings["write_s"] += time.perf_counter() - t
            t = time.perf_counter()
            result = wh.load_export(doc, forecast_id=FORECAST, job_id=f"bench-{plan.quarter}-d{day:03d}",
                                    requested_period=None, exported_at=org.now)
            load_s = time.perf_counter() - t
            timings["load_s"] += load_s
            after = wh.storage()
            series.append({
                "day": day, "weeks": info["frames"], "file_bytes": doc.stat().st_size, "cells": result.cells,
                "cells_added": result.cells_added, "cells_changed": result.cells_changed,
                "cells_removed": result.cells_removed, "changes": result.changes_detected,
                "bytes_added": after["used_bytes"] - before["used_bytes"],
                "file_bytes_added": after["file_bytes"] - before["file_bytes"],
                "used_bytes": after["used_bytes"], "load_s": round(load_s, 4),
            })
            before = after
            if log and (day % 10 == 9 or day == plan.days - 1):
                log(f"  day {day + 1}/{plan.days}: {result.cells:,} cells, {result.cells_added:,} new, "
                    f"{result.cells_changed:,} changed, +{series[-1]['bytes_added'] / 1e6:.2f} MB, load {load_s:.2f} s")
        counts = analytics.row_counts(wh)
        versions = counts.loc[counts["table_name"] == "cell_versions", "rows"].iloc[0]
    doc.unlink(missing_ok=True)
    timings["total_s"] = time.perf_counter() - started
    return {"series": series, "cell_versions": int(versions), "past_quarters": past, "timings": timings}
