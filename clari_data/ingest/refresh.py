"""One refresh: export each configured forecast and period from Clari and load it.

The same path serves a real tenant and the demo (the simulator over loopback). Each export is
independent: one failing leaves the others, and the warehouse keeps its last good data.
"""

from __future__ import annotations

import hashlib
import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from clari_data.shared.config import Settings
from clari_data.shared.periods import periods_ending_at
from clari_data.shared.redact import Scrubber
from clari_data.shared.timeutil import naive_utc, utc_now
from clari_data.storage.warehouse import ExportRejected, LoadResult, Warehouse, WarehouseError

from . import demo
from .client import (
    BadJobIdError,
    ClariClient,
    ClariError,
    Job,
    JobDeadlineError,
    JobFailedError,
    NotReadyError,
    QuotaReachedError,
    TypeNotSupportedError,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Progress:
    """What a running refresh is doing, for live display. `step` counts exports started."""

    stage: str  # starting, limits, queued, exporting, downloading, loading, done, failed
    message: str
    forecast_id: str | None = None
    period: str | None = None
    job_status: str | None = None
    step: int = 0
    steps: int = 0
    at: datetime = field(default_factory=utc_now)


@dataclass(frozen=True)
class ExportOutcome:
    forecast_id: str
    requested_period: str | None
    status: str  # loaded, unchanged, skipped, failed
    time_period: str | None = None
    job_id: str | None = None
    export_id: int | None = None
    entries: int = 0
    changes: int = 0
    error: str | None = None
    kind: str | None = None  # why it failed: 'empty', 'truncated', 'quota_reached', ...
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.forecast_id} {self.time_period or self.requested_period or 'current quarter'}"


@dataclass(frozen=True)
class RefreshResult:
    run_id: int
    outcomes: tuple[ExportOutcome, ...]

    @property
    def failures(self) -> list[ExportOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def outcome(self) -> str:
        if not self.failures:
            return "success"
        return "failed" if len(self.failures) == len(self.outcomes) else "partial"

    @property
    def exports_loaded(self) -> int:
        return sum(o.status == "loaded" for o in self.outcomes)

    @property
    def rows(self) -> int:
        return sum(o.entries for o in self.outcomes if o.status == "loaded")

    @property
    def changes(self) -> int:
        return sum(o.changes for o in self.outcomes)

    def summary(self) -> str:
        done = [o for o in self.outcomes if o.status != "failed"]
        notes = {"unchanged": " (unchanged)", "skipped": " (final, not exported again)"}
        labels = ", ".join(f"{o.label}{notes.get(o.status, '')}" for o in done)
        text = (f"{len(done)} of {len(self.outcomes)} exports refreshed ({labels or 'none'}): "
                f"{self.rows:,} rows loaded, {self.changes:,} changes at or above the thresholds.")
        return text


def open_client(settings: Settings) -> ClariClient:
    """The Clari client for these settings: the tenant, or in demo mode the built-in simulator."""
    if settings.demo_mode:
        server = demo.simulator(settings)
        return ClariClient(server.base_url, demo.DEMO_API_KEY, poll_interval=0.05, poll_deadline=60.0,
                           timeout=settings.clari.timeout_seconds, retry=settings.clari.retry_policy())
    return ClariClient.from_settings(settings.clari)


def read_limits(settings: Settings):
    """Clari's export limits right now (concurrency and the rolling 30-day quota)."""
    with open_client(settings) as client:
        return client.limits()


def downloads_dir(settings: Settings) -> Path:
    configured = settings.warehouse.downloads_dir
    return Path(configured) if configured else Path(settings.warehouse.path).resolve().parent / "downloads"


def run_refresh(
    settings: Settings,
    warehouse: Warehouse,
    *,
    client: ClariClient | None = None,
    forecasts: list[str] | None = None,
    periods: list[str] | None = None,
    trigger: str = "cli",
    requested_by: str | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> RefreshResult:
    """Export and load; records the run. Never raises for a Clari or data failure: see the result."""
    report = progress or (lambda p: None)
    scrub = Scrubber.for_settings(settings)
    run_id = warehouse.start_run(trigger, requested_by, pid=os.getpid())
    report(Progress("starting", "starting the refresh"))
    outcomes: list[ExportOutcome] = []
    own_client = client is None
    try:
        if settings.demo_mode:
            demo.advance_clock(settings, warehouse)
        client = client or open_client(settings)
        folder = downloads_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        explicit = list(periods or settings.clari.time_periods)
        for forecast_id in forecasts or list(settings.clari.forecast_ids):
            targets: list[str | None] = explicit or [None]
            i = 0
            while i < len(targets):
                requested = targets[i]
                steps = len(targets) if explicit else settings.clari.periods_back + 1
                outcome = _export_one(settings, warehouse, client, folder, run_id, forecast_id, requested,
                                      report, scrub, step=i + 1, steps=steps, explicit=bool(explicit))
                outcomes.append(outcome)
                if not explicit and requested is None:
                    # The current period is what Clari answers to an export without one (any fiscal
                    # calendar), else the last such answer; never a guess from the calendar.
                    current = outcome.time_period or warehouse.latest_current_period(forecast_id)
                    if current:
                        targets += periods_ending_at(current, settings.clari.periods_back)[1:]
                i += 1
    except (ClariError, WarehouseError, OSError) as exc:
        # A failure before any export could start (the simulator would not start, the disk is full...).
        outcomes.append(ExportOutcome("(refresh)", None, "failed", error=scrub(str(exc))))
    except Exception as exc:
        # A bug must still end the run as failed, never leave it "running" in the history.
        outcomes.append(ExportOutcome("(refresh)", None, "failed", error=unexpected(exc, scrub), kind="unexpected"))
    finally:
        if own_client and client is not None:
            client.close()
    result = RefreshResult(run_id, tuple(outcomes))
    errors = "; ".join(f"{o.label}: {o.error}" for o in result.failures) or None
    warehouse.finish_run(run_id, outcome=result.outcome, exports_loaded=result.exports_loaded,
                         rows_loaded=result.rows, changes_detected=result.changes, error=errors)
    final = "done" if result.outcome == "success" else "failed"
    report(Progress(final, result.summary() if final == "done" else errors or "failed"))
    return result


def unexpected(exc: BaseException, scrub: Scrubber) -> str:
    """An error no code path expected, for the run history: its type and text, the traceback in the log."""
    log.error("refresh stopped unexpectedly: %s", scrub("".join(traceback.format_exception(exc))))
    return scrub(f"unexpected {type(exc).__name__}: {exc}")[:500]


def download_path(folder: Path, job_id: str) -> Path:
    """Where a job's result is downloaded: a name this app makes, never Clari's text (the same job
    gets the same name, so a complete download left by a refresh that died is reused)."""
    return folder / f"export-{hashlib.sha256(job_id.encode()).hexdigest()[:32]}.json"


def _export_one(settings, warehouse, client, folder, run_id, forecast_id, requested, report, scrub,
                *, step, steps, explicit) -> ExportOutcome:
    started = naive_utc()
    label = f"{forecast_id} {requested or 'current quarter'}"
    where = {"forecast_id": forecast_id, "period": requested, "step": step, "steps": steps}
    job_id = None
    notes: tuple[str, ...] = ()

    def finish(outcome: ExportOutcome) -> ExportOutcome:
        warehouse.record_attempt(run_id, forecast_id=forecast_id, requested_period=requested, started_at=started,
                                 status=outcome.status, time_period=outcome.time_period, job_id=outcome.job_id,
                                 export_id=outcome.export_id, failure_kind=outcome.kind, error=outcome.error,
                                 warnings=outcome.warnings)
        return outcome

    # A past quarter exported more than a day after it ended cannot change any more (Clari allows
    # edits until the morning after a week ends), so exporting it again would only spend quota.
    if requested and not explicit and warehouse.is_period_final(forecast_id, requested):
        return finish(ExportOutcome(forecast_id, requested, "skipped", time_period=requested))
    try:
        job_id = warehouse.in_flight_job(forecast_id, requested)
        if job_id:
            report(Progress("exporting", f"{label}: polling Clari job {job_id} left by an earlier refresh",
                            **where))
            try:
                job = _wait(client, job_id, label, report, where)
            except (NotReadyError, BadJobIdError):
                # Clari no longer knows the job (expired or never existed), or it was stored with an id
                # no longer accepted: a new one is needed.
                warehouse.set_job_status(job_id, "abandoned")
                job_id = None
        if not job_id:
            report(Progress("limits", f"{label}: checking Clari's export limits", **where))
            _wait_for_capacity(client, label)
            report(Progress("queued", f"{label}: queuing the export", **where))
            job_id, notes = _queue(settings, warehouse, client, forecast_id, requested)
            warehouse.remember_job(job_id, forecast_id, requested)
            job = _wait(client, job_id, label, report, where)
        if job.cells_truncated:
            warehouse.set_job_status(job_id, "failed")
            raise ExportRejected(
                "cells_truncated",
                f"Clari cut the cells of the export of {label} short (cellsTruncated); a partial forecast was not "
                "loaded. Narrow the export (scope_id) or ask your Clari CSM about the cell limit.")

        path = download_path(folder, job_id)
        if not path.exists():  # a complete file from a refresh that died while loading is reused
            report(Progress("downloading", f"{label}: downloading the export", job_status=job.status, **where))
            client.download_results(job_id, path)
        report(Progress("loading", f"{label}: loading and detecting changes", job_status=job.status, **where))
        try:
            loaded: LoadResult = warehouse.load_export(
                path, forecast_id=forecast_id, job_id=job_id, requested_period=requested,
                exported_at=_job_time(job), rows_truncated=job.rows_truncated, thresholds=settings.alerts)
        except ExportRejected:
            warehouse.set_job_status(job_id, "failed")
            path.unlink(missing_ok=True)
            raise
        warehouse.set_job_status(job_id, "loaded")
        path.unlink(missing_ok=True)
        return finish(ExportOutcome(
            forecast_id, requested, loaded.status, time_period=loaded.time_period, job_id=job_id,
            export_id=loaded.export_id, entries=loaded.entries if loaded.status == "loaded" else 0,
            changes=loaded.changes_detected, warnings=notes + loaded.warnings))
    except (JobFailedError, JobDeadlineError) as exc:
        if job_id:
            warehouse.set_job_status(job_id, "failed")
        return finish(ExportOutcome(forecast_id, requested, "failed", job_id=job_id, error=scrub(str(exc)),
                                    kind=failure_kind(exc)))
    except (ClariError, ExportRejected, WarehouseError, OSError) as exc:
        # The job (if any) stays in flight: the next refresh polls it again instead of queuing anew.
        log.warning("export %s failed: %s", label, scrub(str(exc)))
        return finish(ExportOutcome(forecast_id, requested, "failed", job_id=job_id, error=scrub(str(exc)),
                                    kind=failure_kind(exc)))
    except Exception as exc:
        return finish(ExportOutcome(forecast_id, requested, "failed", job_id=job_id, error=unexpected(exc, scrub),
                                    kind="unexpected"))


CRM_TYPES = ("crm_total", "crm_closed")
CRM_REFUSED = "crm_types_refused"  # the tenant's answer, remembered in the warehouse


def _queue(settings: Settings, warehouse: Warehouse, client: ClariClient, forecast_id: str,
           requested: str | None) -> tuple[str, tuple[str, ...]]:
    """Queue the export; returns its job id and warnings for the run history.

    Clari's spec says the CRM types are not supported by the Export API, yet lists them: a tenant
    that refuses them answers 400 type_not_supported, and no job is created. Ask once more without
    them, and remember the answer so later refreshes do not ask again.
    """
    types = settings.clari.types_to_export
    refused = warehouse.tenant_fact(CRM_REFUSED) == "true"
    without = tuple(t for t in types if t not in CRM_TYPES)
    ask = without if refused and without else types
    options = {"time_period": requested, "include_historical": True, "currency": settings.clari.currency,
               "scope_id": settings.clari.scope_id}
    try:
        return client.queue_export(forecast_id, types_to_export=ask, **options), ()
    except TypeNotSupportedError:
        if ask == without or not without:
            raise
    warehouse.remember_tenant_fact(CRM_REFUSED, "true")
    note = (f"Clari does not export {' and '.join(t for t in types if t in CRM_TYPES)} for this tenant, so the "
            "export was made without them (CRM fields still arrive as their forecast values); remove them from "
            "[clari] types_to_export to silence this warning.")
    log.warning("%s", note)
    return client.queue_export(forecast_id, types_to_export=without, **options), (note,)


def failure_kind(exc: BaseException) -> str:
    """A short, stable name for why an export failed ('empty', 'quota_reached', 'network', ...)."""
    if isinstance(exc, ExportRejected):
        return exc.kind
    if isinstance(exc, JobFailedError):
        return f"job_{exc.job.status.lower()}"
    name = type(exc).__name__.removesuffix("Error")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") or "error"


def _wait(client: ClariClient, job_id: str, label: str, report, where) -> Job:
    def on_status(job: Job) -> None:
        report(Progress("exporting", f"{label}: Clari job {job.status}", job_status=job.status, **where))

    return client.wait_for_job(job_id, on_status=on_status)


def _wait_for_capacity(client: ClariClient, label: str) -> None:
    """Refuse early when the monthly quota is gone; the concurrency limit is left to Clari's answer."""
    try:
        limits = client.limits()
    except ClariError as exc:  # limits are advisory; the export request itself will say what is wrong
        log.info("could not read Clari's limits before %s: %s", label, exc)
        return
    if limits.available_monthly is not None and limits.available_monthly <= 0:
        raise QuotaReachedError(
            f"Clari's monthly export quota ({limits.monthly_quota}) is used up, so {label} was not queued. "
            "Exports free up over Clari's rolling 30 days; ask your Clari CSM to raise the quota if this recurs.")


def _job_time(job: Job) -> datetime | None:
    millis = job.end_time or job.start_time
    if not millis:
        return None
    return naive_utc(datetime.fromtimestamp(millis / 1000, tz=UTC)) if millis < 1e14 else None

