"""Loading one downloaded export: validated, diffed against the history and stored in one
transaction (the statements are sql/load.sql)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from clari_data.shared.config import PERIOD_RE, AlertSettings
from clari_data.shared.timeutil import naive_utc

from .core import Cursor, WarehouseCore, WarehouseError, sql_statements

log = logging.getLogger(__name__)

# How the result document is read: amounts as JSON (validated in SQL), unknown keys ignored.
EXPORT_COLUMNS = {
    "entries": "STRUCT(userId VARCHAR, fieldId VARCHAR, timePeriodId VARCHAR, timeFrameId VARCHAR,"
    " forecastValue JSON, quotaValue JSON, adjustmentValue JSON, aggregationTotal JSON,"
    " isUpdated JSON, updatedBy VARCHAR, updatedOn JSON, adjustedBy VARCHAR, adjustedOn JSON,"
    " currency STRUCT(code VARCHAR, symbol VARCHAR))[]",
    "users": "STRUCT(userId VARCHAR, name VARCHAR, email VARCHAR, crmId VARCHAR, hierarchyId VARCHAR,"
    " hierarchyName VARCHAR, parentHierarchyId VARCHAR, parentHierarchyName VARCHAR, scopeId VARCHAR)[]",
    "fields": "STRUCT(fieldId VARCHAR, fieldName VARCHAR, fieldType VARCHAR)[]",
    "timePeriods": "STRUCT(timePeriodId VARCHAR, label VARCHAR, year VARCHAR, type VARCHAR,"
    " startDate VARCHAR, endDate VARCHAR, crmId VARCHAR)[]",
    "timeFrames": "STRUCT(timeFrameId VARCHAR, startDate VARCHAR, endDate VARCHAR)[]",
}


class ExportRejected(WarehouseError):
    """The export is not loadable; the warehouse was left exactly as it was."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LoadResult:
    status: str  # 'loaded' or 'unchanged'
    export_id: int
    time_period: str
    entries: int = 0
    cells: int = 0
    cells_added: int = 0
    cells_changed: int = 0
    cells_removed: int = 0
    changes_detected: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Loads(WarehouseCore):
    def load_export(
        self,
        path: str | Path,
        *,
        forecast_id: str,
        job_id: str,
        requested_period: str | None,
        exported_at: datetime | None = None,
        rows_truncated: bool = False,
        thresholds: AlertSettings | None = None,
    ) -> LoadResult:
        """Load one downloaded export in a single transaction.

        Raises ExportRejected (warehouse untouched) when the file cannot be trusted. Loading the
        same job, or a file identical to the latest export of its forecast and period, loads
        nothing and returns status 'unchanged' (an identical file only marks that export as
        confirmed at `exported_at`, which can make its quarter final and ended). `thresholds`
        (default: today's [alerts] defaults) decide which of the moves it records count
        (forecast_changes).
        """
        path = Path(path)
        exported_at = naive_utc(exported_at)
        stmts = sql_statements("load.sql")
        size = 0

        def load(cur: Cursor) -> LoadResult:
            nonlocal size
            known = cur.execute(stmts["export_of_job"], {"job_id": job_id}).fetchone()
            if known:
                return LoadResult("unchanged", known[0], known[1])
            size = path.stat().st_size
            sha = file_sha256(path)
            return self._load(cur, stmts, path, size, sha, forecast_id, job_id, requested_period, exported_at,
                              rows_truncated, thresholds or AlertSettings())
        try:
            return self.atomically(load)
        except duckdb.OutOfMemoryException as exc:
            raise WarehouseError(self._out_of_memory(path, size, exc)) from None

    def _load(self, cur: Cursor, stmts: dict[str, str], path: Path, size: int, sha: str, forecast_id: str,
              job_id: str, requested_period: str | None, exported_at: datetime, rows_truncated: bool,
              thresholds: AlertSettings) -> LoadResult:
        try:
            cur.execute(stmts["read_document"], {
                "path": str(path), "columns": EXPORT_COLUMNS, "max_object_size": max(size + 1024, 1 << 24),
            })
        except duckdb.OutOfMemoryException:
            raise  # the file may be fine: the memory cap is too tight (load_export says so)
        except duckdb.Error as exc:
            detail = str(exc).splitlines()[0][:200]
            raise ExportRejected("invalid_json",
                                 f"the export file is not valid JSON or not Clari's shape ({detail})") from None
        doc = _row(cur.execute(stmts["describe_document"]))
        if doc["documents"] != 1:
            raise ExportRejected("invalid_json", "the export file does not hold exactly one result document")
        missing = [name for key, name in (("no_entries", "entries"), ("no_users", "users"), ("no_fields", "fields"),
                                          ("no_periods", "timePeriods"), ("no_frames", "timeFrames")) if doc[key]]
        if missing:
            raise ExportRejected("missing_list", f"the export has no '{missing[0]}' list; it was not loaded")
        period = doc["time_period"]
        # The id names files, links and every page's subheader: only the shape Clari documents.
        if not isinstance(period, str) or not PERIOD_RE.fullmatch(period):
            raise ExportRejected("bad_period", f"the export's period id {ascii(str(period)[:40])} is not a fiscal "
                                               "quarter shaped YYYY_QN; not loaded")
        if requested_period and period != requested_period:
            raise ExportRejected(
                "period_fallback",
                f"Clari returned {period} instead of the requested {requested_period} (Clari falls back to the "
                f"current quarter for a period it does not recognise); not loaded. Check that {requested_period} "
                "exists in your Clari fiscal calendar.",
            )
        if rows_truncated:
            raise ExportRejected(
                "truncated",
                f"Clari cut the export of {forecast_id} {period} short (rowsTruncated); a partial forecast was not "
                "loaded. Narrow the export (scope_id) or ask your Clari CSM about the row limit.",
            )
        if not doc["entries"]:
            raise ExportRejected("empty", f"the export of {forecast_id} {period} came back with no entries; not loaded")
        params = {"forecast_id": forecast_id, "time_period": period}
        latest = cur.execute(stmts["latest_export_of"], params).fetchone()
        if latest and latest[1] == sha:
            cur.execute(stmts["drop_stage"])
            cur.execute(stmts["confirm_export"], {"export_id": latest[0], "exported_at": exported_at})
            return LoadResult("unchanged", latest[0], period, entries=doc["entries"])

        cur.execute(stmts["stage_entries"])
        cur.execute(stmts["stage_lists"])
        warnings = _warnings(_row(cur.execute(stmts["entry_problems"], {"time_period": period})))
        cur.execute(stmts["stage_cells"], params)
        staged = _row(cur.execute(stmts["stage_counts"]))
        if staged["cells"] == 0:
            raise ExportRejected("no_valid_entries",
                                 f"none of the {doc['entries']} entries of {forecast_id} {period} could be loaded: "
                                 + "; ".join(warnings))

        export_id = cur.execute(stmts["next_export_id"]).fetchone()[0]
        previous = latest[0] if latest else None
        for name in ("upsert_users", "upsert_fields"):
            cur.execute(stmts[name], {"export_id": export_id})
        cur.execute(stmts["upsert_periods"], {"time_period": period})
        cur.execute(stmts["upsert_frames"], {"time_period": period})
        diff = _row(cur.execute(stmts["diff_counts"], params))
        significant = 0
        if previous is not None:
            cur.execute(stmts["detect_changes"], {
                **params, "export_id": export_id, "previous_export_id": previous,
                "change_pct": thresholds.change_pct, "change_min_amount": thresholds.change_min_amount,
            })
            significant = cur.execute(stmts["significant_changes"], {"export_id": export_id}).fetchone()[0]
        cur.execute(stmts["close_versions"], {**params, "export_id": export_id})
        cur.execute(stmts["open_versions"], {**params, "export_id": export_id})
        # The pages' role pivot (current_role_values) and its history (role_value_versions) follow
        # the new cell versions, in the same transaction.
        cur.execute(stmts["stage_role_values"], params)
        cur.execute(stmts["role_values_gone"], params)
        cur.execute(stmts["role_values_new"], params)
        cur.execute(stmts["close_role_versions"], {**params, "export_id": export_id})
        cur.execute(stmts["open_role_versions"], {"export_id": export_id})
        cur.execute(stmts["delete_role_values"], params)
        cur.execute(stmts["insert_role_values"])
        cur.execute(stmts["insert_export"], {
            **params, "export_id": export_id, "job_id": job_id, "requested_period": requested_period,
            "exported_at": exported_at, "loaded_at": naive_utc(), "file_sha256": sha, "file_bytes": size,
            "entries": doc["entries"], "cells": staged["cells"], "users": staged["users"], "weeks": staged["weeks"],
            "cells_added": diff["added"], "cells_changed": diff["changed"], "cells_removed": diff["removed"],
            "changes_detected": significant, "rows_truncated": rows_truncated, "warnings": warnings,
        })
        cur.execute(stmts["drop_stage"])
        log.info("loaded export %s of %s %s: %d cells (%d new, %d changed, %d removed), %d changes",
                 export_id, forecast_id, period, staged["cells"], diff["added"], diff["changed"], diff["removed"],
                 significant)
        return LoadResult("loaded", export_id, period, doc["entries"], staged["cells"], diff["added"],
                          diff["changed"], diff["removed"], significant, tuple(warnings))

    def _out_of_memory(self, path: Path, size: int, exc: Exception) -> str:
        detail = str(exc).splitlines()[0][:200]
        return (f"DuckDB ran out of memory loading the {size / 1e6:,.1f} MB export {path.name} under its memory "
                f"limit of {self.memory_limit()} ({detail}). Raise [warehouse] memory_limit (reading an export "
                "takes several times its size) or give the process more memory; the downloaded file is kept, so "
                "the next refresh loads it without a new export.")


def _row(result: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    names = [d[0] for d in result.description]
    return dict(zip(names, result.fetchone()))


def _warnings(problems: dict[str, Any]) -> list[str]:
    texts = {
        "non_numeric": "{n} amount(s) were not numbers and were loaded as empty",
        "out_of_range": "{n} amount(s) were not finite or implausibly large (>= 1e15) and were loaded as empty",
        "negative": "{n} amount(s) were negative (loaded as sent)",
        "missing_keys": "{n} entr(y/ies) lacked a user, field or week id and were skipped",
        "other_period": "{n} entr(y/ies) belonged to another period and were skipped",
        "unknown_users": "{n} entr(y/ies) named a user not in the export's user list and were skipped",
        "unknown_fields": "{n} entr(y/ies) named a field not in the export's field list and were skipped",
        "unknown_weeks": "{n} entr(y/ies) named a week not in the export's week list and were skipped",
        "duplicates": "{n} duplicate entr(y/ies) for the same cell were skipped (the first was kept)",
    }
    return [texts[k].format(n=int(v)) for k, v in problems.items() if v and int(v) > 0]
