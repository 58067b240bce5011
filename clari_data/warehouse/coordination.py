"""Coordination of the refresh worker and the dashboard replicas through the warehouse (migration
012, sql/coordination.sql): "Refresh now" requests, the worker's claims on them, and the status
the worker publishes for every replica to show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..timeutil import naive_utc
from .core import Cursor, WarehouseCore, sql_statements

STATUS_COLUMNS = ("worker_id", "host", "pid", "leading_since", "state", "stage", "message", "forecast_id",
                  "time_period", "job_status", "step", "steps", "last_finished_at", "next_run_at", "updated_at")


def _coordination(name: str) -> str:
    return sql_statements("coordination.sql")[name]


def _rows(cur: Cursor, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    result = cur.execute(sql, params or {})
    names = [d[0] for d in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


class Coordination(WarehouseCore):
    # -- requests (written by replicas, claimed by the worker) ------------------------------

    def add_refresh_request(self, request_id: str, *, trigger: str, requested_by: str | None, origin: str,
                            now: datetime | None = None) -> None:
        self._write(_coordination("add_refresh_request"), {
            "request_id": request_id, "now": naive_utc(now), "requested_by": requested_by, "trigger": trigger,
            "origin": origin})

    def pending_refresh_requests(self, cur: Cursor | None = None) -> list[dict[str, Any]]:
        """Requests no worker has claimed yet, oldest first."""
        own = cur is None
        cur = cur or self.cursor()
        try:
            return _rows(cur, _coordination("pending_refresh_requests"))
        finally:
            if own:
                cur.close()

    def claim_refresh_requests(self, worker_id: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """Claim every pending request for one run, in one transaction; returns them, oldest first
        (none: nothing was pending)."""
        with self.transaction() as cur:
            pending = _rows(cur, _coordination("pending_refresh_requests"))
            if pending:
                cur.execute(_coordination("claim_refresh_requests"), {
                    "request_ids": [r["request_id"] for r in pending], "worker_id": worker_id,
                    "now": naive_utc(now)})
        return pending

    # -- the worker's status ----------------------------------------------------------------

    def publish_worker_status(self, **status: Any) -> None:
        """Replace the published status (the columns of STATUS_COLUMNS; missing ones are NULL)."""
        unknown = set(status) - set(STATUS_COLUMNS)
        if unknown:
            raise TypeError(f"unknown worker status columns: {', '.join(sorted(unknown))}")
        params = {name: status.get(name) for name in STATUS_COLUMNS}
        for name in ("leading_since", "last_finished_at", "next_run_at", "updated_at"):
            if params[name] is not None:
                params[name] = naive_utc(params[name])
        with self.transaction() as cur:
            cur.execute(_coordination("clear_worker_status"))
            cur.execute(_coordination("insert_worker_status"), params)

    def worker_status(self, cur: Cursor | None = None) -> dict[str, Any] | None:
        own = cur is None
        cur = cur or self.cursor()
        try:
            rows = _rows(cur, _coordination("worker_status"))
            return rows[0] if rows else None
        finally:
            if own:
                cur.close()

    def refresh_overview(self, cur: Cursor | None = None) -> dict[str, Any]:
        """What a replica shows of the refresh, read in one snapshot: the worker's status
        (`status`, None before any worker ran) and runs_completed, last_finished_at,
        last_manual_at, pending, pending_since (sql/coordination.sql: refresh_overview)."""
        if cur is None:
            with self.snapshot() as snap:
                return self.refresh_overview(snap)
        [overview] = _rows(cur, _coordination("refresh_overview"))
        overview["status"] = self.worker_status(cur)
        return overview
