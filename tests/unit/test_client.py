"""ClariClient against an in-process fake of Clari's Export API v4 (httpx.MockTransport).

Nothing here touches the network and nothing really sleeps: every wait goes through a fake
clock whose `sleep` records the seconds asked for and moves time forward.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import traceback
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from clari_data.ingest import client as client_module
from clari_data.ingest.client import (
    JOB_STATES,
    AuthError,
    BadRequestError,
    CancelFailedError,
    ClariClient,
    ClariError,
    Job,
    JobDeadlineError,
    JobFailedError,
    Limits,
    NetworkError,
    NotOptedInError,
    NotReadyError,
    OutcomeUnknownError,
    QuotaReachedError,
    RateLimitedError,
    ServerError,
    TypeNotSupportedError,
    UnknownForecastError,
)
from clari_data.shared.config import ClariSettings, ConfigError, Secret
from clari_data.shared.retry import RetryPolicy

KEY = "SECRET-KEY-ab12cd34"
BASE = "https://api.clari.test/v4"
JOB_ID = "6073683781a6da229df71e00"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TopJitter(random.Random):
    """Always the top of the jitter range, so backoff waits are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Fake:
    """A scripted server: each route maps to a list of replies used in turn (the last repeats)."""

    def __init__(self, routes: dict[tuple[str, str], list]) -> None:
        self.routes = {route: list(replies) for route, replies in routes.items()}
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        key = (request.method, request.url.path)
        replies = self.routes.get(key)
        if replies is None:
            return httpx.Response(404, json={"message": "no Route matched with those values", "request_id": "r1"})
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        if hasattr(reply, "_content"):  # a fresh copy, so one scripted reply can serve many requests
            return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)
        return reply

    def seen(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.calls if r.method == method and r.url.path == path]


def policy(max_attempts: int, cap: float = 30.0) -> RetryPolicy:
    return RetryPolicy(max_attempts, backoff_seconds=0.5, max_backoff_seconds=cap, jitter=True)


def make(routes: dict[tuple[str, str], list], *, base: str = BASE, **options):
    fake, clock = Fake(routes), FakeClock()
    options.setdefault("rng", TopJitter())
    client = ClariClient(base, Secret(KEY), transport=httpx.MockTransport(fake), sleep=clock.sleep,
                         clock=clock, **options)
    return client, fake, clock


def job_body(status: str = "DONE", **extra) -> dict:
    return {"jobId": JOB_ID, "userId": 1, "orgId": 101, "title": "Forecast Export", "module": "FORECAST",
            "startTime": 1617830857175, "endTime": 1617830861959, "fileName": "clari_export.json",
            "fileType": "JSON", "status": status, "rowsTruncated": False, "cellsTruncated": False, **extra}


def clari_error(code: str, message: str, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "namespace": "exports", "errorId": "54c5a2b5",
                                        "message": message, "orgId": 101})


def job_reply(status: str) -> httpx.Response:
    return httpx.Response(200, json={"job": job_body(status)})


def transport_error(cls: type[httpx.TransportError]) -> httpx.TransportError:
    return cls("boom", request=httpx.Request("GET", BASE))


POST = ("POST", "/v4/export/forecast/net_arr")
JOB = ("GET", f"/v4/export/jobs/{JOB_ID}")
PATCH = ("PATCH", f"/v4/export/jobs/{JOB_ID}")
RESULTS = ("GET", f"/v4/export/jobs/{JOB_ID}/results")
QUEUED = httpx.Response(200, json={"jobId": JOB_ID})


def no_leak(exc: BaseException) -> BaseException:
    """The key appears nowhere a person or a log could see it."""
    texts = [str(exc), repr(exc), repr(vars(exc)), "".join(traceback.format_exception(exc))]
    if isinstance(exc, (JobFailedError, JobDeadlineError)):
        texts += [repr(exc.job), json.dumps(exc.job.raw)]
    for text in texts:
        assert KEY not in text
    return exc


def fails(exc_type: type[BaseException], call, *args, **kwargs) -> BaseException:
    with pytest.raises(exc_type) as info:
        call(*args, **kwargs)
    return no_leak(info.value)


@pytest.fixture(autouse=True)
def key_never_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="clari_data.ingest.client")
    yield
    assert KEY not in caplog.text


# ---- queueing ------------------------------------------------------------------------------


@pytest.mark.parametrize("base", [BASE, BASE + "/"])
def test_queue_sends_body_and_key(base):
    client, fake, _ = make({POST: [QUEUED]}, base=base)
    job_id = client.queue_export("net_arr", time_period="2026_Q1", types_to_export=["forecast", "quota"],
                                 include_historical=True, currency="USD", scope_id="1905::MGR")
    assert job_id == JOB_ID
    (request,) = fake.calls
    assert str(request.url) == "https://api.clari.test/v4/export/forecast/net_arr"
    assert request.headers["apikey"] == KEY
    assert json.loads(request.content) == {"timePeriod": "2026_Q1", "typesToExport": ["forecast", "quota"],
                                           "includeHistorical": True, "currency": "USD", "scopeId": "1905::MGR"}


def test_queue_sends_only_what_was_given():
    client, fake, _ = make({POST: [QUEUED]})
    client.queue_export("net_arr", include_historical=False)
    assert json.loads(fake.calls[0].content) == {"includeHistorical": False}


@pytest.mark.parametrize("period", ["2026Q1", "2026_Q5", "Q1 2026", ""])
def test_bad_period_refused_before_any_request(period):
    client, fake, _ = make({POST: [QUEUED]})
    fails(ConfigError, client.queue_export, "net_arr", time_period=period)
    assert fake.calls == []


def test_bad_export_type_refused_before_any_request():
    client, fake, _ = make({POST: [QUEUED]})
    fails(ConfigError, client.queue_export, "net_arr", types_to_export=["forecast", "pipeline"])
    assert fake.calls == []


def test_every_call_carries_the_key():
    client, fake, _ = make({
        POST: [QUEUED], JOB: [job_reply("DONE")], PATCH: [httpx.Response(200, json={"status": "CANCELLED"})],
        ("GET", "/v4/admin/limits"): [httpx.Response(200, json={"jobs": {}})],
    })
    client.queue_export("net_arr")
    client.get_job(JOB_ID)
    client.cancel_job(JOB_ID)
    client.limits()
    assert len(fake.calls) == 4
    assert all(r.headers["apikey"] == KEY for r in fake.calls)


def test_queue_without_job_id_is_outcome_unknown():
    client, _, _ = make({POST: [httpx.Response(200, json={})]})
    fails(OutcomeUnknownError, client.queue_export, "net_arr")


# ---- jobs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", JOB_STATES)
@pytest.mark.parametrize("envelope", ["flat", "wrapped"])
def test_get_job_every_state_and_envelope(status, envelope):
    body = job_body(status, rowsTruncated=True)
    client, _, _ = make({JOB: [httpx.Response(200, json=body if envelope == "flat" else {"job": body})]})
    job = client.get_job(JOB_ID)
    assert job == Job(job_id=JOB_ID, status=status, rows_truncated=True, cells_truncated=False,
                      start_time=1617830857175, end_time=1617830861959, file_name="clari_export.json", raw=body)
    assert job.raw == body
    assert job.terminal == (status in ("DONE", "FAILED", "CANCELLED", "ABORTED"))


@pytest.mark.parametrize("body", [{"job": {"jobId": JOB_ID}}, {"jobId": JOB_ID, "status": ""}, {"status": "DONE"},
                                  {"job": {"status": "DONE"}}, ["x"], {"job": ["x"]}])
def test_get_job_rejects_what_clari_never_sends(body):
    client, _, _ = make({JOB: [httpx.Response(200, json=body)]})
    fails(ClariError, client.get_job, JOB_ID)


def test_wait_for_job_polls_until_done_and_reports_each_status():
    client, fake, clock = make({JOB: [job_reply("SCHEDULED"), job_reply("STARTED"), job_reply("DONE")]},
                               poll_interval=7)
    seen: list[str] = []
    job = client.wait_for_job(JOB_ID, on_status=lambda j: seen.append(j.status))
    assert job.status == "DONE"
    assert seen == ["SCHEDULED", "STARTED", "DONE"]
    assert clock.sleeps == [7, 7]
    assert len(fake.seen(*JOB)) == 3


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "CANCELLED"])
def test_wait_for_job_terminal_failure(status):
    client, fake, _ = make({JOB: [job_reply("STARTED"), job_reply(status)]})
    error = fails(JobFailedError, client.wait_for_job, JOB_ID)
    assert error.job.status == status and error.job.job_id == JOB_ID
    assert JOB_ID in str(error) and status in str(error)
    assert fake.seen(*PATCH) == []


def test_wait_for_job_deadline_cancels_then_raises():
    client, fake, clock = make({JOB: [job_reply("STARTED")],
                                PATCH: [httpx.Response(200, json={"status": "CANCELLED", "successful": True})]},
                               poll_interval=5, poll_deadline=20)
    polls: list[Job] = []
    error = fails(JobDeadlineError, client.wait_for_job, JOB_ID, on_status=polls.append)
    assert len(polls) == 5  # at 0, 5, 10, 15 and 20 s
    assert clock.sleeps == [5, 5, 5, 5]
    (cancel,) = fake.seen(*PATCH)
    assert json.loads(cancel.content) == {"type": "CANCEL"}
    assert fake.calls[-1] is cancel
    assert error.job.status == "STARTED" and "cancelled" in str(error)


def test_wait_for_job_last_poll_lands_on_the_deadline():
    client, fake, clock = make({JOB: [job_reply("SCHEDULED")],
                                PATCH: [httpx.Response(200, json={"status": "CANCELLED"})]},
                               poll_interval=5, poll_deadline=12)
    fails(JobDeadlineError, client.wait_for_job, JOB_ID)
    assert clock.sleeps == [5, 5, 2]
    assert len(fake.seen(*JOB)) == 4 and len(fake.seen(*PATCH)) == 1


def test_wait_for_job_deadline_ignores_failed_cancel():
    client, fake, _ = make({JOB: [job_reply("STARTED"), job_reply("STARTED"), job_reply("ABORTED")],
                            PATCH: [clari_error("export_failed_to_cancel", "Cannot cancel the job.")]},
                           poll_interval=5, poll_deadline=5)
    fails(JobDeadlineError, client.wait_for_job, JOB_ID)
    assert len(fake.seen(*PATCH)) == 1


def test_wait_for_job_done_during_cancel_is_returned():
    client, fake, _ = make({JOB: [job_reply("STARTED"), job_reply("STARTED"), job_reply("DONE")],
                            PATCH: [clari_error("export_failed_to_cancel", "Cannot cancel the job.")]},
                           poll_interval=5, poll_deadline=1)
    assert client.wait_for_job(JOB_ID).status == "DONE"
    assert [r.method for r in fake.calls] == ["GET", "GET", "PATCH", "GET"]


def test_wait_for_job_retries_transient_poll_errors():
    client, _, clock = make({JOB: [job_reply("STARTED"), httpx.Response(503), transport_error(httpx.ReadTimeout),
                                   job_reply("DONE")]}, poll_interval=5)
    assert client.wait_for_job(JOB_ID).status == "DONE"
    assert clock.sleeps == [5, 0.5, 1.0]


def job_logs(caplog) -> list[str]:
    """What the client logged about the statuses of jobs it waited for."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("export job ")]


@pytest.mark.parametrize("status", ["RUNNING", "QUEUED", "PROVISIONING", "running"])
def test_any_unfinished_status_keeps_polling(status, caplog):
    client, fake, clock = make({JOB: [job_reply("SCHEDULED"), job_reply(status), job_reply(status),
                                      job_reply("STARTED"), job_reply(status), job_reply("DONE")]}, poll_interval=5)
    seen: list[str] = []
    assert client.wait_for_job(JOB_ID, on_status=lambda j: seen.append(j.status)).status == "DONE"
    upper = status.upper()
    assert seen == ["SCHEDULED", upper, upper, "STARTED", upper, "DONE"]
    assert clock.sleeps == [5] * 5
    # one line per status the job newly reports, however often or in whatever order it comes back
    assert job_logs(caplog) == [
        f"export job {JOB_ID} is SCHEDULED",
        f"export job {JOB_ID} is {upper} (a status the Export API does not document: still running)",
        f"export job {JOB_ID} is STARTED",
        f"export job {JOB_ID} is DONE",
    ]


def test_unknown_status_is_not_terminal():
    client, _, _ = make({JOB: [job_reply("RUNNING")]})
    job = client.get_job(JOB_ID)
    assert job.status == "RUNNING" and not job.terminal


def test_unknown_status_still_meets_the_deadline(caplog):
    client, fake, clock = make({JOB: [job_reply("QUEUED"), job_reply("RUNNING")],
                                PATCH: [httpx.Response(200, json={"status": "ABORTED", "successful": True})]},
                               poll_interval=5, poll_deadline=20)
    error = fails(JobDeadlineError, client.wait_for_job, JOB_ID)
    assert clock.sleeps == [5, 5, 5, 5]
    assert len(fake.seen(*JOB)) == 5 and len(fake.seen(*PATCH)) == 1
    assert fake.calls[-1].method == "PATCH"
    assert error.job.status == "RUNNING" and "still RUNNING after 20 s" in str(error)
    assert len(job_logs(caplog)) == 2  # QUEUED, RUNNING


@pytest.mark.parametrize("envelope", ["flat", "wrapped"])
def test_job_id_read_from_id_as_well_as_job_id(envelope):
    body = job_body("RUNNING")
    body["id"] = body.pop("jobId")
    wrap = (lambda doc: doc) if envelope == "flat" else (lambda doc: {"job": doc})
    queued = httpx.Response(200, json=wrap({"id": JOB_ID}))
    client, fake, _ = make({POST: [queued], JOB: [httpx.Response(200, json=wrap(body)),
                                                  httpx.Response(200, json=wrap({**body, "status": "DONE"}))]})
    assert client.queue_export("net_arr") == JOB_ID
    job = client.wait_for_job(JOB_ID)
    assert job.job_id == JOB_ID and job.status == "DONE" and job.raw["id"] == JOB_ID


def test_job_id_prefers_job_id_over_id():
    client, _, _ = make({POST: [httpx.Response(200, json={"jobId": JOB_ID, "id": "something-else"})]})
    assert client.queue_export("net_arr") == JOB_ID


@pytest.mark.parametrize("rows,cells,expected", [(False, False, None), (True, False, "rows"),
                                                  (False, True, "cells"), (True, True, "rows and cells")])
def test_truncation_names_what_clari_cut(rows, cells, expected):
    client, _, _ = make({JOB: [httpx.Response(200, json=job_body(rowsTruncated=rows, cellsTruncated=cells))]})
    job = client.get_job(JOB_ID)
    assert (job.rows_truncated, job.cells_truncated, job.truncation) == (rows, cells, expected)


def test_cancel_job():
    client, fake, _ = make({PATCH: [httpx.Response(200, json={"status": "CANCELLED", "successful": True})]})
    assert client.cancel_job(JOB_ID) == "CANCELLED"
    assert json.loads(fake.calls[0].content) == {"type": "CANCEL"}


def test_job_tolerates_the_spec_examples_string_values():
    # Clari's published job-list example writes every value as a string with a trailing comma.
    body = {"jobId": "6073683781a6da229df71e00,", "status": "STARTED,", "startTime": "123456789,",
            "rowsTruncated": "false,", "cellsTruncated": "true,"}
    client, _, _ = make({JOB: [httpx.Response(200, json=body)]})
    job = client.get_job(JOB_ID)
    assert (job.job_id, job.status, job.start_time, job.rows_truncated, job.cells_truncated) == (
        JOB_ID, "STARTED", 123456789, False, True)


def test_limits():
    body = {"jobs": {"concurrentLimit": 3, "monthlyQuota": 1000, "runningJobIds": ["a", "b"],
                     "submittedJobIds": ["a", "b", "c"], "availableConcurrentLimit": 1,
                     "availableMonthlyQuota": 995}}
    client, _, _ = make({("GET", "/v4/admin/limits"): [httpx.Response(200, json=body)]})
    assert client.limits() == Limits(3, 1000, 1, 995)


def test_limits_without_running_jobs():
    body = {"jobs": {"concurrentLimit": 3, "monthlyQuota": 1000, "submittedJobIds": [],
                     "availableConcurrentLimit": 3, "availableMonthlyQuota": 1000}}
    client, _, _ = make({("GET", "/v4/admin/limits"): [httpx.Response(200, json=body)]})
    assert client.limits() == Limits(3, 1000, 3, 1000)


# ---- errors --------------------------------------------------------------------------------

ERRORS = [
    (POST, clari_error("export_monthly_quota_reached",
                       "The monthly quota limit of 30 or concurrent limit of 1 has been reached."),
     QuotaReachedError, ["quota is used up", "monthly quota limit of 30", "/admin/limits"]),
    (POST, clari_error("no_such_forecast_config", "Forecast net_arr does not exist in the ForecastTemplate."),
     UnknownForecastError, ["'net_arr'", "does not exist", "forecast_ids"]),
    (POST, clari_error("no_optin", "User is not opted in.", status=401),
     NotOptedInError, ["not opted in", "'net_arr'"]),
    (POST, httpx.Response(401, json={"message": "Invalid authentication credentials"}),
     AuthError, ["Clari rejected the API key (Invalid authentication credentials)", "CLARI_API_KEY"]),
    (POST, httpx.Response(401, json={"message": "No API key found in request"}),
     AuthError, ["No API key found in request", "CLARI_API_KEY"]),
    (POST, clari_error("type_not_supported", "crm_total is not supported."),
     TypeNotSupportedError, ["crm_total is not supported", "types_to_export"]),
    (POST, clari_error("bad_request", "Invalid currency XYZ."),
     BadRequestError, ["Invalid currency XYZ"]),
    (RESULTS, clari_error("invalid_jobId", "Cannot retrieve data for job because it has not finished executing."),
     NotReadyError, [JOB_ID, "not finished executing"]),
    (PATCH, clari_error("export_failed_to_cancel", "Cannot cancel the job because it already finished executing."),
     CancelFailedError, [JOB_ID, "already finished"]),
    (JOB, httpx.Response(403, json={"code": "forbidden", "message": "Invalid permissions to view this job."}),
     BadRequestError, ["Invalid permissions"]),
]


def call(client: ClariClient, route, tmp_path):
    if route == POST:
        return client.queue_export("net_arr")
    if route == RESULTS:
        return client.download_results(JOB_ID, tmp_path / "out.json")
    if route == PATCH:
        return client.cancel_job(JOB_ID)
    return client.get_job(JOB_ID)


@pytest.mark.parametrize("route, reply, exc_type, phrases", ERRORS,
                         ids=[e[2].__name__ + str(i) for i, e in enumerate(ERRORS)])
def test_error_codes_become_typed_errors(route, reply, exc_type, phrases, tmp_path):
    client, fake, clock = make({route: [reply]})
    error = fails(exc_type, call, client, route, tmp_path)
    assert type(error) is exc_type
    assert error.status == reply.status_code
    assert error.code == reply.json().get("code")
    for phrase in phrases:
        assert phrase in str(error)
    assert len(fake.calls) == 1 and clock.sleeps == []  # client errors are never retried
    assert list(tmp_path.iterdir()) == []


def test_unknown_route_404():
    client, fake, _ = make({})
    error = fails(BadRequestError, client.get_job, JOB_ID)
    assert error.status == 404 and "no Route matched" in str(error) and "base_url" in str(error)
    assert len(fake.calls) == 1


def test_redirects_are_not_followed():
    # httpx would carry the custom `apikey` header along to wherever the redirect points.
    elsewhere = httpx.Response(302, headers={"Location": "https://elsewhere.test/steal"})
    client, fake, _ = make({JOB: [elsewhere], ("GET", "/steal"): [job_reply("DONE")]})
    error = fails(ClariError, client.get_job, JOB_ID)
    assert error.status == 302 and "base_url" in str(error)
    assert [r.url.host for r in fake.calls] == ["api.clari.test"]


def test_clari_message_is_capped_and_scrubbed():
    client, _, _ = make({POST: [clari_error("bad_request", f"key {KEY} was wrong " + "x" * 2000)]})
    error = fails(BadRequestError, client.queue_export, "net_arr")
    assert len(str(error)) < 600
    assert "********" in str(error)


# ---- retries -------------------------------------------------------------------------------


def test_retry_after_seconds():
    client, fake, clock = make({JOB: [httpx.Response(429, headers={"Retry-After": "7"}), job_reply("DONE")]})
    assert client.get_job(JOB_ID).status == "DONE"
    assert clock.sleeps == [7.0]
    assert len(fake.calls) == 2


def test_retry_after_http_date_against_server_date():
    headers = {"Date": "Wed, 21 Oct 2026 07:28:00 GMT", "Retry-After": "Wed, 21 Oct 2026 07:28:42 GMT"}
    client, _, clock = make({JOB: [httpx.Response(503, headers=headers), job_reply("DONE")]})
    client.get_job(JOB_ID)
    assert clock.sleeps == [42.0]


def test_retry_after_http_date_without_server_date():
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    client, _, clock = make({JOB: [httpx.Response(429, headers={"Retry-After": when}), job_reply("DONE")]})
    client.get_job(JOB_ID)
    (wait,) = clock.sleeps
    assert 115 <= wait <= 120


def test_retry_after_too_long_gives_up_at_once():
    client, fake, clock = make({POST: [httpx.Response(429, headers={"Retry-After": "3600"}), QUEUED]},
                               max_retry_after=300)
    error = fails(RateLimitedError, client.queue_export, "net_arr")
    assert error.status == 429 and "3600 s" in str(error) and "try again after" in str(error)
    assert clock.sleeps == [] and len(fake.calls) == 1


def test_rate_limited_after_retries():
    client, fake, clock = make({JOB: [httpx.Response(429)]}, retry=policy(3))
    error = fails(RateLimitedError, client.get_job, JOB_ID)
    assert error.retryable and len(fake.calls) == 3 and clock.sleeps == [0.5, 1.0]


def test_server_errors_recover_with_exponential_backoff():
    client, fake, clock = make({JOB: [httpx.Response(500), httpx.Response(502), httpx.Response(504),
                                      job_reply("DONE")]})
    assert client.get_job(JOB_ID).status == "DONE"
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_server_errors_exhaust():
    body = {"code": "internal_server_error", "message": "Something went wrong"}
    client, fake, clock = make({JOB: [httpx.Response(500, json=body)]}, retry=policy(4))
    error = fails(ServerError, client.get_job, JOB_ID)
    assert error.status == 500 and error.code == "internal_server_error" and error.retryable
    assert "Something went wrong" in str(error)
    assert len(fake.calls) == 4 and clock.sleeps == [0.5, 1.0, 2.0]


class RecordingJitter(random.Random):
    def __init__(self) -> None:
        super().__init__(0)
        self.asked: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.asked.append((a, b))
        return 0.75


def test_backoff_is_exponential_capped_and_jittered():
    rng = RecordingJitter()
    client, _, clock = make({JOB: [httpx.Response(503)]}, retry=policy(7, cap=3.0), rng=rng)
    fails(ServerError, client.get_job, JOB_ID)
    assert clock.sleeps == [0.75 * c for c in (0.5, 1.0, 2.0, 3.0, 3.0, 3.0)]
    assert rng.asked == [(0.5, 1.0)] * 6
    client, _, clock = make({JOB: [httpx.Response(503)]}, retry=policy(7, cap=3.0), rng=random.Random(1))
    fails(ServerError, client.get_job, JOB_ID)
    for wait, ceiling in zip(clock.sleeps, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_transport_errors_recover(exc):
    client, fake, clock = make({JOB: [transport_error(exc), job_reply("DONE")]})
    assert client.get_job(JOB_ID).status == "DONE"
    assert len(fake.calls) == 2 and clock.sleeps == [0.5]


def test_transport_errors_exhaust():
    client, fake, clock = make({JOB: [transport_error(httpx.ConnectTimeout)]}, retry=policy(3))
    error = fails(NetworkError, client.get_job, JOB_ID)
    assert error.retryable and "ConnectTimeout" in str(error) and "3 attempts" in str(error)
    assert error.__context__ is None or error.__suppress_context__
    assert len(fake.calls) == 3 and clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout])
def test_post_cut_after_sending_is_not_retried(exc):
    client, fake, clock = make({POST: [transport_error(exc), QUEUED]})
    error = fails(OutcomeUnknownError, client.queue_export, "net_arr")
    assert "may have been queued" in str(error) and "not retrying" in str(error)
    assert len(fake.seen(*POST)) == 1 and clock.sleeps == []


@pytest.mark.parametrize("first", [transport_error(httpx.ConnectError), transport_error(httpx.ConnectTimeout),
                                   httpx.Response(429), httpx.Response(500), httpx.Response(502),
                                   httpx.Response(503), httpx.Response(504)],
                         ids=["connect", "connect-timeout", "429", "500", "502", "503", "504"])
def test_post_retried_when_nothing_was_created(first):
    client, fake, _ = make({POST: [first, QUEUED]})
    assert client.queue_export("net_arr") == JOB_ID
    assert len(fake.seen(*POST)) == 2


# ---- downloads -----------------------------------------------------------------------------

CHUNK = 64 * 1024
CHUNKS = 40  # 2.5 MiB


def big_body(part_path):
    """Yields the body lazily, checking that what came before is already on disk."""
    for i in range(CHUNKS):
        if i >= 2:
            assert part_path.stat().st_size >= (i - 1) * CHUNK, "the download is not streamed to disk"
        yield bytes([i % 251]) * CHUNK


def expected_bytes() -> bytes:
    return b"".join(bytes([i % 251]) * CHUNK for i in range(CHUNKS))


class CutStream(httpx.SyncByteStream):
    def __init__(self, exc: type[httpx.TransportError] = httpx.RemoteProtocolError) -> None:
        self.exc = exc

    def __iter__(self):
        yield b"{\"entries\": ["
        raise self.exc("peer closed connection without sending complete message body")


def test_download_streams_to_file(tmp_path, monkeypatch):
    dest = tmp_path / "exports" / "job.json"
    part = dest.with_name("job.json.part")
    synced: list[int] = []
    real_fsync = client_module.os.fsync
    monkeypatch.setattr(client_module.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    reply = lambda request: httpx.Response(  # noqa: E731
        200, headers={"Content-Length": str(CHUNK * CHUNKS)}, content=big_body(part))
    client, fake, _ = make({RESULTS: [reply]})
    assert client.download_results(JOB_ID, dest) == CHUNK * CHUNKS
    assert dest.read_bytes() == expected_bytes()
    assert not part.exists()
    assert len(synced) == 1
    assert fake.calls[0].headers["apikey"] == KEY


def test_download_cut_mid_stream_then_succeeds(tmp_path):
    dest = tmp_path / "job.json"
    body = b'{"entries": [], "users": []}'
    client, fake, clock = make({RESULTS: [
        httpx.Response(200, headers={"Content-Length": "5000"}, stream=CutStream()),
        httpx.Response(200, headers={"Content-Length": "5000"}, content=b"x" * 10),  # short body
        transport_error(httpx.ReadError),
        httpx.Response(503),
        httpx.Response(200, content=body),
    ]})
    assert client.download_results(JOB_ID, dest) == len(body)
    assert dest.read_bytes() == body
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]
    assert len(fake.calls) == 5 and clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_download_failing_for_good_leaves_no_file(tmp_path):
    dest = tmp_path / "job.json"
    client, fake, clock = make({RESULTS: [lambda r: httpx.Response(200, stream=CutStream(httpx.ReadError))]},
                               retry=policy(3))
    error = fails(NetworkError, client.download_results, JOB_ID, dest)
    assert "download the results" in str(error)
    assert list(tmp_path.iterdir()) == []
    assert len(fake.calls) == 3 and clock.sleeps == [0.5, 1.0]


def test_download_undecodable_body_leaves_no_file(tmp_path):
    client, fake, clock = make({RESULTS: [lambda r: httpx.Response(200, stream=CutStream(httpx.DecodingError))]})
    error = fails(ClariError, client.download_results, JOB_ID, tmp_path / "job.json")
    assert type(error) is ClariError and "could not be read" in str(error)
    assert list(tmp_path.iterdir()) == []
    assert len(fake.calls) == 1 and clock.sleeps == []


def test_download_keeps_an_older_file_when_it_fails(tmp_path):
    dest = tmp_path / "job.json"
    dest.write_bytes(b"old")
    client, _, _ = make({RESULTS: [clari_error("invalid_jobId", "not finished")]})
    fails(NotReadyError, client.download_results, JOB_ID, dest)
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


# ---- construction and secrets -------------------------------------------------------------


def test_from_settings_and_key_hidden():
    settings = ClariSettings(base_url=BASE, api_key=Secret(KEY), timeout_seconds=12, max_attempts=2,
                             poll_interval_seconds=2, poll_deadline_seconds=60)
    fake, clock = Fake({JOB: [httpx.Response(500)]}), FakeClock()
    client = ClariClient.from_settings(settings, transport=httpx.MockTransport(fake), sleep=clock.sleep,
                                       clock=clock, rng=TopJitter())
    assert (client.retry.max_attempts, client.poll_interval, client.poll_deadline) == (2, 2, 60)
    assert KEY not in repr(client)
    fails(ServerError, client.get_job, JOB_ID)
    assert len(fake.calls) == 2 and fake.calls[0].extensions["timeout"]["read"] == 12
    with pytest.raises(ConfigError):
        ClariClient.from_settings(ClariSettings())


def test_plain_string_key_and_context_manager():
    fake = Fake({JOB: [job_reply("DONE")]})
    with ClariClient(BASE, KEY, transport=httpx.MockTransport(fake)) as client:
        client.get_job(JOB_ID)
    assert fake.calls[0].headers["apikey"] == KEY
    with pytest.raises(ConfigError):
        ClariClient(BASE, "")


FAILURES = [
    (POST, [clari_error("export_monthly_quota_reached", "quota")]),
    (POST, [httpx.Response(401, json={"message": "Invalid authentication credentials"})]),
    (POST, [transport_error(httpx.ReadTimeout)]),
    (POST, [httpx.Response(429, headers={"Retry-After": "9999"})]),
    (JOB, [httpx.Response(503)]),
    (JOB, [transport_error(httpx.ConnectError)]),
    (JOB, [job_reply("FAILED")]),
    (JOB, [job_reply("STARTED")]),
    (RESULTS, [lambda r: httpx.Response(200, stream=CutStream())]),
    (PATCH, [clari_error("export_failed_to_cancel", "done")]),
    (("GET", "/nowhere"), []),
]


@pytest.mark.parametrize("route, replies", FAILURES)
def test_key_never_appears_in_failures(route, replies, tmp_path, caplog):
    client, _, _ = make({route: replies} if replies else {}, retry=policy(3), poll_deadline=10)
    with pytest.raises(ClariError) as info:
        if route == JOB:
            client.wait_for_job(JOB_ID)
        else:
            call(client, route, tmp_path)
    no_leak(info.value)
    context = info.value.__context__
    while context is not None:  # even the suppressed chain holds no text with the key
        assert KEY not in str(context) and KEY not in repr(context)
        context = context.__context__
    assert caplog.records  # the failures were logged...
    assert KEY not in caplog.text  # ...without the key
