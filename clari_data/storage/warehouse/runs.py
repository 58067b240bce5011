"""Refresh bookkeeping: runs and their export attempts, Clari jobs in flight, the demo clock, what
a refresh asks before it exports and what it learned about the tenant (sql/runs.sql)."""

from __future__ import annotations

import logging
from datetime import datetime

import duckdb

from clari_data.shared.timeutil import naive_utc

from .core import Cursor, WarehouseCore, sql_statements

log = logging.getLogger(__name__)


def _runs(name: str) -> str:
    return sql_statements("runs.sql")[name]


class Runs(WarehouseCore):
    # -- jobs in flight ---------------------------------------------------------------------

    def in_flight_job(self, forecast_id: str, requested_period: str | None) -> str | None:
        return self._value(_runs("in_flight_job"), {"forecast_id": forecast_id, "requested_period": requested_period})

    def remember_job(self, job_id: str, forecast_id: str, requested_period: str | None) -> None:
        self._write(_runs("remember_job"), {"job_id": job_id, "forecast_id": forecast_id,
                                            "requested_period": requested_period, "now": naive_utc()})

    def set_job_status(self, job_id: str, status: str) -> None:
        self._write(_runs("set_job_status"), {"job_id": job_id, "status": status, "now": naive_utc()})

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, trigger: str, requested_by: str | None = None, pid: int | None = None) -> int:
        def start(cur: Cursor) -> int:
            run_id = cur.execute(_runs("next_run_id")).fetchone()[0]
            cur.execute(_runs("start_run"), {"run_id": run_id, "trigger": trigger, "requested_by": requested_by,
                                             "now": naive_utc(), "pid": pid})
            return int(run_id)
        return self.atomically(start)

    def record_attempt(self, run_id: int, *, forecast_id: str, requested_period: str | None, started_at: datetime,
                       status: str, time_period: str | None = None, job_id: str | None = None,
                       export_id: int | None = None, failure_kind: str | None = None,
                       error: str | None = None, warnings: tuple[str, ...] = ()) -> None:
        self._write(_runs("record_attempt"), {
            "run_id": run_id, "forecast_id": forecast_id, "requested_period": requested_period,
            "time_period": time_period, "job_id": job_id, "started_at": started_at, "finished_at": naive_utc(),
            "status": status, "export_id": export_id, "failure_kind": failure_kind, "error": error,
            "warnings": list(warnings),
        })

    def finish_run(self, run_id: int, *, outcome: str, exports_loaded: int = 0, rows_loaded: int = 0,
                   changes_detected: int = 0, error: str | None = None) -> None:
        """Record the run's end; then, on a backend that asks for it (a lake), its upkeep, once a
        run, by its one writer (a lake's small writes stay inlined in the catalog, each load's updates
        leave delete files, and old snapshots expire only at a compaction). An upkeep that fails is
        tried after the next run."""
        self._write(_runs("finish_run"), {
            "run_id": run_id, "now": naive_utc(), "outcome": outcome, "exports_loaded": exports_loaded,
            "rows_loaded": rows_loaded, "changes_detected": changes_detected, "error": error,
        })
        if self.backend.upkeep_after_runs:
            try:
                self.compact()
            except duckdb.Error as exc:  # e.g. a conflict with a replica's request: next run
                log.warning("compacting the lake after run %s failed: %s", run_id, str(exc).splitlines()[0])

    def close_abandoned_runs(self) -> None:
        """Runs left 'running' by a process that died cannot finish: record them as failed."""
        self._write(_runs("close_abandoned_runs"), {"now": naive_utc()})

    # -- what a refresh asks ----------------------------------------------------------------

    def latest_current_period(self, forecast_id: str) -> str | None:
        """The period of the newest export queued without a period (Clari's current quarter then)."""
        return self._value(_runs("latest_current_period"), {"forecast_id": forecast_id})

    def is_period_final(self, forecast_id: str, period: str) -> bool:
        """Whether the period's latest export was taken more than a day after it ended: its numbers
        cannot change any more, so exporting it again would only spend quota."""
        return bool(self._value(_runs("is_period_final"), {"forecast_id": forecast_id, "time_period": period}))

    def tenant_fact(self, name: str) -> str | None:
        """What an earlier refresh learned about the tenant (None: nothing yet)."""
        return self._value(_runs("tenant_fact"), {"name": name})

    def remember_tenant_fact(self, name: str, value: str) -> None:
        self._write(_runs("remember_tenant_fact"), {"name": name, "value": value, "now": naive_utc()})

    # -- demo state -------------------------------------------------------------------------

    def demo_clock(self) -> datetime | None:
        return self._value(_runs("demo_clock"))

    def set_demo_clock(self, sim_now: datetime) -> None:
        self._write(_runs("set_demo_clock"), {"sim_now": naive_utc(sim_now)})
