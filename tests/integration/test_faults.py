"""The fault matrix: every way Clari or the network can fail, one test per row, against the
simulator over loopback. Each asserts the run's recorded outcome and message, and that the
warehouse afterwards holds exactly the data it held before, or the new export fully loaded
(the same current state as a clean load of the same export) -- never part of it.

The decision for each row is documented in docs/operations/failures.md.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import pytest
from support import SIM_NOW, TEST_KEY, posts, sql_value, wait_until

from clari_data.ingest.client import ClariClient
from clari_data.ingest.refresh import run_refresh
from clari_data.ingest.simulator import SyntheticOrg
from clari_data.shared.config import Secret
from clari_data.shared.retry import RetryPolicy
from clari_data.storage.warehouse import Warehouse

ALL_TYPES = ("forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed")
CRM_TYPES = ("crm_total", "crm_closed")


def fast_retry(max_attempts: int) -> RetryPolicy:
    """The client's policy with short waits, so a row that retries takes a fraction of a second."""
    return RetryPolicy(max_attempts, 0.05, max_backoff_seconds=0.2, jitter=True)


@dataclass(frozen=True)
class Row:
    id: str
    outcome: str  # "loaded" or "failed"
    kind: str | None = None  # failure kind recorded for a failed export
    message: str = ""  # a fragment of the recorded error or warning
    inject: Callable = lambda sim, ctx: None
    clari: dict = field(default_factory=dict)  # ClariSettings overrides
    client: dict = field(default_factory=dict)  # ClariClient overrides
    past_period: bool = False  # export an explicit past quarter instead of the current one
    exact: bool = True  # a loaded export must equal a clean load of the same export
    org: dict = field(default_factory=dict)  # SyntheticOrg options of the tenant, from its first refresh on
    check: Callable = lambda wh, sim, settings: None  # what else the row's decision leaves behind


def http_date(seconds: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@dataclass
class Context:
    """What a row's injection sets up besides the simulator's faults."""

    clari: dict = field(default_factory=dict)  # more ClariSettings overrides
    sockets: list = field(default_factory=list)  # closed after the refresh


def black_hole(ctx: Context) -> str:
    """A loopback port that accepts no connection: its backlog is full, so a connect times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())
    ctx.sockets += [listener, filler]
    return f"http://127.0.0.1:{listener.getsockname()[1]}/v4"


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v4"


ROWS = [
    Row("429-retry-after-seconds", "loaded", inject=lambda s, c: s.faults.http_status(429, retry_after="1", times=2)),
    Row("429-retry-after-http-date", "loaded",
        inject=lambda s, c: s.faults.http_status(429, retry_after=http_date(1), times=1)),
    Row("429-retry-after-over-the-cap", "failed", "rate_limited", "longer than this client waits",
        inject=lambda s, c: s.faults.http_status(429, retry_after="301", times=None),
        check=lambda wh, sim, settings: asked_once_more(sim)),
    Row("429-without-retry-after", "loaded", inject=lambda s, c: s.faults.http_status(429, times=2)),
    Row("429-that-does-not-stop", "failed", "rate_limited", "rate",
        inject=lambda s, c: s.faults.http_status(429, retry_after="0", times=None)),
    Row("500-that-recovers", "loaded", inject=lambda s, c: s.faults.http_status(500, times=2)),
    Row("502-that-recovers", "loaded", inject=lambda s, c: s.faults.http_status(502, times=2)),
    Row("503-that-recovers", "loaded", inject=lambda s, c: s.faults.http_status(503, times=2)),
    Row("500-that-does-not", "failed", "server", "500", inject=lambda s, c: s.faults.http_status(500, times=None)),
    Row("502-that-does-not", "failed", "server", "502", inject=lambda s, c: s.faults.http_status(502, times=None)),
    Row("503-that-does-not", "failed", "server", "503", inject=lambda s, c: s.faults.http_status(503, times=None)),
    Row("connection-refused", "failed", "network", "connect", clari={"base_url": closed_port()}),
    Row("connect-time-out", "failed", "network", "connect", client={"timeout": 0.5, "retry": fast_retry(2)},
        inject=lambda s, c: c.clari.update(base_url=black_hole(c))),
    Row("read-time-out-that-recovers", "loaded", client={"timeout": 1.0},
        inject=lambda s, c: s.faults.delay(2.0, path=r"^/export/jobs/\w+$", times=1)),
    Row("read-time-out-that-does-not", "failed", "network", "timed out",
        client={"timeout": 0.5, "retry": fast_retry(2)},
        inject=lambda s, c: s.faults.delay(1.5, path=r"^/export/jobs/\w+$", times=None)),
    Row("export-answer-lost", "failed", "outcome_unknown", "may have been queued",
        client={"timeout": 0.5, "retry": fast_retry(3)},
        inject=lambda s, c: s.faults.delay(1.5, method="POST", path=r"^/export/forecast/", times=None),
        check=lambda wh, sim, settings: asked_once_more(sim, answered=True)),
    Row("cut-mid-download-that-recovers", "loaded", inject=lambda s, c: s.faults.cut(300, times=1)),
    Row("cut-mid-download-that-does-not", "failed", "network", "download",
        inject=lambda s, c: s.faults.cut(300, times=None)),
    Row("job-failed", "failed", "job_failed", "FAILED", inject=lambda s, c: s.faults.job_outcome("FAILED")),
    Row("job-aborted", "failed", "job_aborted", "ABORTED", inject=lambda s, c: s.faults.job_outcome("ABORTED")),
    Row("job-cancelled", "failed", "job_cancelled", "CANCELLED", inject=lambda s, c: s.faults.job_outcome("CANCELLED")),
    Row("job-never-finishes", "failed", "job_deadline", "cancel", clari={"poll_deadline_seconds": 1.0},
        inject=lambda s, c: s.faults.job_outcome("STUCK")),
    Row("quota-reached-400", "failed", "quota_reached", "quota",
        inject=lambda s, c: s.faults.error_code("export_monthly_quota_reached")),
    Row("quota-used-up-before-queuing", "failed", "quota_reached", "quota",
        inject=lambda s, c: setattr(s, "monthly_quota", len(s.jobs))),
    Row("bad-key-401", "failed", "auth", "API key", clari={"api_key": Secret("WRONG-KEY-123")}),
    Row("not-opted-in-401", "failed", "not_opted_in", "opted in", inject=lambda s, c: s.faults.error_code("no_optin")),
    Row("unknown-forecast-400", "failed", "unknown_forecast", "deal_owner", clari={"forecast_ids": ("deal_owner",)}),
    Row("period-replaced-by-current-quarter", "failed", "period_fallback", "instead of the requested",
        past_period=True, inject=lambda s, c: s.faults.result_body("period_fallback")),
    Row("truncated-json", "failed", "invalid_json", "not valid JSON",
        inject=lambda s, c: s.faults.result_body("truncated")),
    Row("invalid-json", "failed", "invalid_json", "not valid JSON",
        inject=lambda s, c: s.faults.result_body("invalid_json")),
    Row("missing-top-level-list", "failed", "missing_list", "no 'entries' list",
        inject=lambda s, c: s.faults.result_body("missing_entries")),
    Row("empty-export", "failed", "empty", "no entries", inject=lambda s, c: s.faults.result_body("empty")),
    Row("rows-truncated", "failed", "truncated", "rowsTruncated",
        inject=lambda s, c: s.faults.result_body("rows_truncated")),
    Row("cells-truncated", "failed", "cells_truncated", "cellsTruncated",
        inject=lambda s, c: s.faults.result_body("cells_truncated")),
    Row("crm-types-refused", "loaded", message="Clari does not export crm_total and crm_closed",
        clari={"types_to_export": ALL_TYPES},
        check=lambda wh, sim, settings: crm_refusal_remembered(wh, sim, settings)),
    Row("only-crm-types-refused", "failed", "type_not_supported", "not supported",
        clari={"types_to_export": CRM_TYPES}),
    Row("unknown-job-status", "loaded", inject=lambda s, c: slow_jobs_in_states(s, "PENDING_REVIEW", "RUNNING"),
        check=lambda wh, sim, settings: polled_through(sim, "PENDING_REVIEW")),
    Row("job-id-sent-as-id", "loaded", inject=lambda s, c: setattr(s, "job_id_field", "id")),
    Row("february-fiscal-calendar", "loaded", org={"fiscal_start_month": 2},
        check=lambda wh, sim, settings: february_quarter_loaded(wh)),
    Row("unknown-users-fields-weeks", "loaded", message="not in the export's user list", exact=False,
        inject=lambda s, c: s.faults.result_body("unknown_refs")),
    Row("null-negative-huge-non-numeric-amounts", "loaded", message="were not numbers", exact=False,
        inject=lambda s, c: s.faults.result_body("bad_amounts")),
    Row("duplicate-entries", "loaded", message="duplicate", exact=False,
        inject=lambda s, c: s.faults.result_body("duplicates")),
    Row("unknown-extra-keys", "loaded", inject=lambda s, c: s.faults.result_body("extra_keys")),
]


def crm_refusal_remembered(wh: Warehouse, sim, settings) -> None:
    """Clari's answer is kept: the next refresh asks without the CRM types straight away."""
    assert wh.tenant_fact("crm_types_refused") == "true"
    refused = refused_queues(sim)
    settings = replace(settings, clari=replace(settings.clari, types_to_export=ALL_TYPES))
    result = run_refresh(settings, wh, periods=[sim.org.current_period()])
    assert result.outcome == "success" and not any("crm" in w for o in result.outcomes for w in o.warnings)
    assert refused_queues(sim) == refused


def refused_queues(sim) -> int:
    return sum(1 for _m, path, status in sim.request_log if path.startswith("/v4/export/forecast/") and status == 400)


def asked_once_more(sim, answered: bool = False) -> None:
    """The export request of the failed refresh went out once: neither a long Retry-After nor a lost
    answer makes the client ask (and spend quota) again. `answered`: the server answers late, after
    the client gave up; wait for that answer before counting."""
    if answered:
        wait_until(lambda: posts(sim) >= 2, 10, "the late answer to the export request")
    assert posts(sim) == 2  # the first refresh's, and this one's


def slow_jobs_in_states(sim, *states: str) -> None:
    sim.job_states = states
    sim.job_seconds = 0.6  # the first status holds a third of it: several polls see it


def polled_through(sim, status: str) -> None:
    """The job reported a status outside the spec's six, and the client kept polling until DONE."""
    job = next(j for j in sim.jobs.values() if status in j.states)
    assert job.status == "DONE"
    polls = [s for method, path, s in sim.request_log if method == "GET" and path == f"/v4/export/jobs/{job.job_id}"]
    assert len(polls) >= 3 and set(polls) == {200}


def february_quarter_loaded(wh: Warehouse) -> None:
    """SIM_NOW (18 November 2026) lies in FY2027 Q4 of a February-start year: Nov 2026 to Jan 2027."""
    row = wh.cursor().execute("SELECT time_period_id, label, year, start_date, end_date FROM time_periods "
                              "WHERE time_period_id = '2027_Q4'").fetchone()
    assert row == ("2027_Q4", "Q4", "2027", date(2026, 11, 1), date(2027, 1, 31))
    assert sql_value(wh, "SELECT count(DISTINCT time_period) FROM exports") == 1


def current_state(wh: Warehouse) -> list[tuple]:
    return sorted(wh.cursor().execute("SELECT * EXCLUDE (valid_from) FROM current_cells").fetchall(), key=repr)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_fault(row, sim_settings, simulator, tmp_path):
    if row.org:
        simulator.org = SyntheticOrg(seed=7, users=60, now=SIM_NOW, **row.org)
    period = simulator.org.periods()[1] if row.past_period else simulator.org.current_period()
    with Warehouse.from_settings(sim_settings) as wh:
        assert run_refresh(sim_settings, wh, periods=[period]).outcome == "success"
        before = wh.table_contents()
        simulator.org.advance(1)  # the next export carries changes, so a partial load would show

        context = Context()
        row.inject(simulator, context)
        settings = replace(sim_settings, clari=replace(sim_settings.clari, **row.clari, **context.clari))
        client = ClariClient.from_settings(settings.clari,
                                           **{"retry": fast_retry(settings.clari.max_attempts), **row.client})
        try:
            result = run_refresh(settings, wh, periods=[period], client=client)
        finally:
            client.close()
            simulator.faults.clear()
            for sock in context.sockets:
                sock.close()
        run = wh.cursor().execute("SELECT outcome, error FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
        [outcome] = result.outcomes

        if row.outcome == "failed":
            assert outcome.status == "failed" and outcome.kind == row.kind, (outcome.kind, outcome.error)
            assert row.message.lower() in outcome.error.lower()
            assert run[0] == "failed" and outcome.error in run[1]
            assert wh.table_contents() == before  # byte-for-byte the same data
        else:
            assert outcome.status == "loaded", outcome.error
            assert run == ("success", None)
            assert sql_value(wh, "SELECT count(*) FROM exports") == 2
            cells = sql_value(wh, "SELECT cells FROM exports ORDER BY export_id DESC LIMIT 1")
            assert sql_value(wh, "SELECT count(*) FROM current_cells") == cells  # fully loaded
            if row.message:
                assert any(row.message in w for w in outcome.warnings), outcome.warnings
                stored = sql_value(wh, "SELECT warnings FROM export_attempts ORDER BY finished_at DESC LIMIT 1")
                assert list(outcome.warnings) == stored
            if row.exact:
                with Warehouse(tmp_path / "reference.duckdb") as reference:
                    clean = replace(sim_settings, warehouse=replace(sim_settings.warehouse,
                                                                    path=str(tmp_path / "reference.duckdb")))
                    assert run_refresh(clean, reference, periods=[period]).outcome == "success"
                    assert current_state(wh) == current_state(reference)
        row.check(wh, simulator, sim_settings)


def test_a_stuck_job_is_cancelled_at_the_deadline(sim_settings, simulator):
    simulator.faults.job_outcome("STUCK")
    settings = replace(sim_settings, clari=replace(sim_settings.clari, poll_deadline_seconds=1.0))
    with Warehouse.from_settings(settings) as wh:
        result = run_refresh(settings, wh, periods=[simulator.org.current_period()])
    [job_id] = [o.job_id for o in result.outcomes]
    assert ("PATCH", f"/v4/export/jobs/{job_id}", 200) in simulator.request_log
    assert simulator.jobs[job_id].status == "ABORTED"  # cancelled while running frees the slot


def test_quota_used_up_is_refused_before_spending_a_request(sim_settings, simulator):
    with Warehouse.from_settings(sim_settings) as wh:
        run_refresh(sim_settings, wh, periods=[simulator.org.current_period()])
        simulator.monthly_quota = len(simulator.jobs)
        queued = posts(simulator)
        result = run_refresh(sim_settings, wh, periods=[simulator.org.current_period()])
    assert result.failures[0].kind == "quota_reached"
    assert posts(simulator) == queued


def test_the_key_is_never_in_a_recorded_error(sim_settings, simulator):
    settings = replace(sim_settings, clari=replace(sim_settings.clari, api_key=Secret(TEST_KEY + "x")))
    with Warehouse.from_settings(settings) as wh:
        result = run_refresh(settings, wh)
        errors = " ".join(str(v) for row in wh.cursor().execute("SELECT * FROM runs").fetchall() for v in row)
    assert result.failures and TEST_KEY not in errors and TEST_KEY not in result.failures[0].error
