"""Coordination of the refresh worker and the dashboard replicas through the warehouse (migration
012, sql/coordination.sql): "Refresh now" requests, the worker's claims on them, and the status
the worker publishes for every replica to show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from clari_data.shared.timeutil import naive_utc

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

    def claim_refresh_requests(self, worker_id: str, starting: dict[str, Any], now: datetime | None = None,
                               cooldown_seconds: float = 0.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Claim every pending request, in one transaction. Returns (claimed, to_run): those made
        after the last run started, which ask for a new run, and for which `starting` (the status
        of a run about to start) is published in the same transaction, so that no replica ever
        sees them claimed while the worker looks idle. The others were made before the last run
        started (on a lake, presses at the same moment commit in any order, some just after a
        claim): that run answered them. So did a manual request made within `cooldown_seconds`
        after the last manual run started: each replica checks the cool-down against what it last
        read, which may miss another replica's press of a moment before; this is the one check
        that sees every press."""
        def claim(cur: Cursor) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            pending = _rows(cur, _coordination("pending_refresh_requests"))
            if not pending:
                return [], []
            cur.execute(_coordination("claim_refresh_requests"), {
                "request_ids": [r["request_id"] for r in pending], "worker_id": worker_id, "now": naive_utc(now)})
            last, last_manual = cur.execute(_coordination("last_run_started_at")).fetchone()
            cooled = last_manual + timedelta(seconds=cooldown_seconds) if last_manual else None
            to_run = [r for r in pending if (last is None or r["requested_at"] > last)
                      and not (r["trigger"] == "manual" and cooled and r["requested_at"] < cooled)]
            if to_run:
                self._replace_status(cur, starting)
            return pending, to_run

        return self.atomically(claim)

    # -- the worker's status ----------------------------------------------------------------

    def publish_worker_status(self, **status: Any) -> None:
        """Replace the published status (the columns of STATUS_COLUMNS; missing ones are NULL)."""
        self.atomically(lambda cur: self._replace_status(cur, status))

    @staticmethod
    def _replace_status(cur: Cursor, status: dict[str, Any]) -> None:
        unknown = set(status) - set(STATUS_COLUMNS)
        if unknown:
            raise TypeError(f"unknown worker status columns: {', '.join(sorted(unknown))}")
        params = {name: status.get(name) for name in STATUS_COLUMNS}
        for name in ("leading_since", "last_finished_at", "next_run_at", "updated_at"):
            if params[name] is not None:
                params[name] = naive_utc(params[name])
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
