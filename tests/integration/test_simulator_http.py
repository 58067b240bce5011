"""The Clari Export API simulator over real loopback HTTP, checked against the contract and the
published OpenAPI document (docs/reference/clari-api-openapi.yml)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import httpx
import jsonschema
import pytest
import yaml

from clari_data.ingest.simulator import DEMO_API_KEY, FaultPlan, SimulatorServer, SyntheticOrg

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "reference" / "clari-api-openapi.yml"
NOW = datetime(2026, 5, 13, 15, 0, tzinfo=UTC)  # week 7 of 2026_Q2
# Every type Clari's Export API takes: it refuses crm_total and crm_closed (type_not_supported).
TYPES = ["forecast", "quota", "forecast_updated", "adjustment"]
JOB_FIELDS = {
    "jobId", "userId", "orgId", "title", "module", "startTime", "endTime", "expiredTime", "version",
    "fileName", "fileType", "status", "viewed", "cellsTruncated", "rowsTruncated", "downloads", "currency",
}
pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------- the spec
def _resolve(node, root, seen=()):
    """Inline every JSON-pointer $ref; OpenAPI's oneOf alternatives here overlap, so they become
    anyOf (with oneOf, a body valid under two of the published alternatives would be refused)."""
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/") and ref not in seen, ref
            target = root
            for part in ref[2:].split("/"):
                token = unquote(part).replace("~1", "/").replace("~0", "~")
                target = target[int(token)] if isinstance(target, list) else target[token]
            return _resolve(target, root, seen + (ref,))
        return {("anyOf" if k == "oneOf" else k): _resolve(v, root, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, seen) for v in node]
    return node


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(SPEC_PATH.read_text())


def schema_for(spec, path: str, method: str, status: int):
    response = spec["paths"][path][method.lower()]["responses"][str(status)]
    return _resolve(response["content"]["application/json"]["schema"], spec)


def conforms(spec, path: str, method: str, response: httpx.Response) -> dict:
    body = response.json()
    jsonschema.Draft4Validator(schema_for(spec, path, method, response.status_code)).validate(body)
    return body


def test_the_schema_check_can_fail(spec):
    job_schema = schema_for(spec, "/export/jobs/{jobId}", "get", 200)
    error_schema = schema_for(spec, "/export/jobs/{jobId}", "patch", 400)
    assert error_schema["properties"]["orgId"]["type"] == "integer"  # resolved through the $ref
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"jobId": "x", "userId": "1", "status": "DONE"}, job_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"jobId": "x", "status": "COMPLETED"}, job_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"code": "x", "orgId": "280627"}, error_schema)


# --------------------------------------------------------------------------- fixtures
class FakeClock:
    """The server's job clock, moved by hand: job lifecycles without sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_org(users: int = 20) -> SyntheticOrg:
    return SyntheticOrg(users=users, now=NOW)


@pytest.fixture
def server():
    with SimulatorServer(make_org(), job_seconds=0) as s:
        yield s


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.base_url, headers={"apikey": DEMO_API_KEY}, timeout=10) as c:
        yield c


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def slow_server(clock):
    """Jobs take 3 s of a fake clock."""
    with SimulatorServer(make_org(), job_seconds=3, clock=clock) as s:
        yield s


@pytest.fixture
def slow_client(slow_server):
    with httpx.Client(base_url=slow_server.base_url, headers={"apikey": DEMO_API_KEY}, timeout=10) as c:
        yield c


def queue(client, body=None, forecast="net_arr") -> str:
    r = client.post(f"/export/forecast/{forecast}", json=body if body is not None else {})
    assert r.status_code == 200, r.text
    return r.json()["jobId"]


def job_status(client, job_id) -> dict:
    r = client.get(f"/export/jobs/{job_id}")
    assert r.status_code == 200, r.text
    doc = r.json()
    return doc["job"] if "job" in doc else doc


def export(client, body=None) -> tuple[str, dict]:
    job_id = queue(client, body)
    assert job_status(client, job_id)["status"] == "DONE"
    r = client.get(f"/export/jobs/{job_id}/results")
    assert r.status_code == 200, r.text
    return job_id, r.json()


def error_of(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "namespace", "errorId", "message", "orgId"}, body
    assert body["code"] == code and body["orgId"] == 280627 and body["errorId"]
    return body


# --------------------------------------------------------------------------- lifecycle
def test_job_lifecycle_scheduled_started_done(spec, slow_server, slow_client, clock):
    r = slow_client.post("/export/forecast/net_arr", json={"includeHistorical": True, "typesToExport": TYPES})
    job_id = conforms(spec, "/export/forecast/{forecastId}", "post", r)["jobId"]
    assert re.fullmatch(r"[0-9a-f]{24}", job_id)

    def poll():
        r = slow_client.get(f"/export/jobs/{job_id}")
        return conforms(spec, "/export/jobs/{jobId}", "get", r)

    job = poll()
    assert job["status"] == "SCHEDULED"
    assert job["title"] == "Forecast Export" and job["module"] == "FORECAST" and job["fileType"] == "JSON"
    assert job["orgId"] == 280627 and isinstance(job["userId"], int)
    assert job["startTime"] == int(NOW.timestamp() * 1000)
    assert "endTime" not in job and job["downloads"] == 0 and job["viewed"] is False
    early = slow_client.get(f"/export/jobs/{job_id}/results")
    conforms(spec, "/export/jobs/{jobId}/results", "get", early)
    assert error_of(early, 400, "invalid_jobId")["message"].startswith("Cannot retrieve data")

    clock.t += 1.0
    assert poll()["status"] == "STARTED"
    assert error_of(slow_client.get(f"/export/jobs/{job_id}/results"), 400, "invalid_jobId")
    clock.t += 1.9
    assert poll()["status"] == "STARTED"
    clock.t += 0.1
    job = poll()
    assert job["status"] == "DONE"
    assert set(job) == JOB_FIELDS
    assert job["endTime"] == job["startTime"] + 3000
    assert job["expiredTime"] == job["endTime"] + 30 * 86_400_000
    assert job["fileName"].endswith(".json") and "net_arr" in job["fileName"]

    r = slow_client.get(f"/export/jobs/{job_id}/results")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    doc = r.json()
    assert set(doc) == {"entries", "users", "fields", "timePeriods", "timeFrames"}
    assert doc["timePeriods"][0]["timePeriodId"] == "2026_Q2" and len(doc["timeFrames"]) == 7
    slow_client.get(f"/export/jobs/{job_id}/results")
    job = poll()
    assert job["downloads"] == 2 and job["viewed"] is True
    # the result is the org's export as of the moment the job was queued
    assert (slow_server.workdir / f"{job_id}.json").exists()
    listed = slow_client.get("/export/jobs")
    jobs = conforms(spec, "/export/jobs", "get", listed)
    assert [j["jobId"] for j in jobs] == [job_id] and jobs[0]["status"] == "DONE"


def test_the_snapshot_is_taken_when_the_job_is_queued(slow_server, slow_client, clock):
    job_id = queue(slow_client, {"includeHistorical": True})
    slow_server.org.advance(1)
    clock.t += 3
    assert job_status(slow_client, job_id)["status"] == "DONE"
    data = slow_client.get(f"/export/jobs/{job_id}/results").content
    reference = SyntheticOrg(users=20, now=NOW)
    import io

    buf = io.BytesIO()
    reference.write_export(buf, "net_arr", "2026_Q2", ["forecast", "forecast_updated"], True)
    assert data == buf.getvalue()


def test_real_time_lifecycle_and_wrapped_envelope(spec):
    with SimulatorServer(make_org(), job_seconds=0.6, envelope="wrapped") as s, httpx.Client(
        base_url=s.base_url, headers={"apikey": DEMO_API_KEY}
    ) as c:
        job_id = queue(c)
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = c.get(f"/export/jobs/{job_id}")
            body = r.json()
            assert set(body) == {"job"}
            jsonschema.validate(body["job"], schema_for(spec, "/export/jobs/{jobId}", "get", 200))
            status = body["job"]["status"]
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == "DONE":
                break
            time.sleep(0.02)
        assert seen == ["SCHEDULED", "STARTED", "DONE"]
        assert c.get(f"/export/jobs/{job_id}/results").status_code == 200


def test_zero_second_jobs_are_done_on_the_first_poll(client):
    job_id = queue(client, {"includeHistorical": True, "typesToExport": TYPES})
    job = job_status(client, job_id)
    assert job["status"] == "DONE" and set(job) == JOB_FIELDS
    assert job["endTime"] == job["startTime"]


# --------------------------------------------------------------------------- cancel
def test_cancel_scheduled_started_and_finished(spec, slow_client, clock):
    scheduled = queue(slow_client)
    r = slow_client.patch(f"/export/jobs/{scheduled}", json={"type": "CANCEL"})
    assert conforms(spec, "/export/jobs/{jobId}", "patch", r) == {"status": "CANCELLED", "successful": True}
    assert job_status(slow_client, scheduled)["status"] == "CANCELLED"

    running = queue(slow_client)
    clock.t += 1.5
    assert job_status(slow_client, running)["status"] == "STARTED"
    r = slow_client.patch(f"/export/jobs/{running}", json={"type": "CANCEL"})
    assert conforms(spec, "/export/jobs/{jobId}", "patch", r) == {"status": "ABORTED", "successful": True}
    clock.t += 10
    job = job_status(slow_client, running)
    assert job["status"] == "ABORTED" and "endTime" in job  # stays aborted, never DONE
    assert error_of(slow_client.get(f"/export/jobs/{running}/results"), 400, "invalid_jobId")

    done = queue(slow_client)
    clock.t += 3
    assert job_status(slow_client, done)["status"] == "DONE"
    for job_id in (done, scheduled):
        r = slow_client.patch(f"/export/jobs/{job_id}", json={"type": "CANCEL"})
        conforms(spec, "/export/jobs/{jobId}", "patch", r)
        assert error_of(r, 400, "export_failed_to_cancel")["message"].startswith("Cannot cancel")
    assert job_status(slow_client, done)["status"] == "DONE"


def test_cancel_needs_the_cancel_body(slow_client):
    job_id = queue(slow_client)
    for body in ({"type": "STOP"}, {}, None):
        r = slow_client.patch(f"/export/jobs/{job_id}", json=body)
        error_of(r, 400, "bad_request")
    r = slow_client.patch(f"/export/jobs/{job_id}", content=b"{not json")
    error_of(r, 400, "bad_request")
    assert job_status(slow_client, job_id)["status"] == "SCHEDULED"


# --------------------------------------------------------------------------- limits
def test_concurrency_limit_and_cancel_frees_a_slot(spec, clock):
    with SimulatorServer(make_org(), job_seconds=60, concurrent_limit=2, clock=clock) as s, httpx.Client(
        base_url=s.base_url, headers={"apikey": DEMO_API_KEY}
    ) as c:
        first, second = queue(c), queue(c)
        r = c.post("/export/forecast/net_arr", json={})
        conforms(spec, "/export/forecast/{forecastId}", "post", r)
        body = error_of(r, 400, "export_monthly_quota_reached")
        assert body["message"] == "The monthly quota limit of 1000 or concurrent limit of 2 has been reached."
        limits = conforms(spec, "/admin/limits", "get", c.get("/admin/limits"))["jobs"]
        assert limits["concurrentLimit"] == 2 and limits["availableConcurrentLimit"] == 0
        assert sorted(limits["runningJobIds"]) == sorted([first, second])
        assert limits["monthlyQuota"] == 1000 and limits["availableMonthlyQuota"] == 998
        c.patch(f"/export/jobs/{first}", json={"type": "CANCEL"})
        limits = c.get("/admin/limits").json()["jobs"]
        assert limits["runningJobIds"] == [second] and limits["availableConcurrentLimit"] == 1
        assert limits["submittedJobIds"] == [second] and limits["availableMonthlyQuota"] == 999
        third = queue(c)
        clock.t += 60  # both finish: slots free, quota stays spent
        assert job_status(c, second)["status"] == "DONE" and job_status(c, third)["status"] == "DONE"
        limits = c.get("/admin/limits").json()["jobs"]
        assert limits["runningJobIds"] == [] and limits["availableConcurrentLimit"] == 2
        assert sorted(limits["submittedJobIds"]) == sorted([second, third])


def test_monthly_quota_is_a_rolling_thirty_days(client, server):
    server.monthly_quota = 2
    queue(client), queue(client)
    r = client.post("/export/forecast/net_arr", json={})
    assert error_of(r, 400, "export_monthly_quota_reached")["message"] == (
        "The monthly quota limit of 2 or concurrent limit of 3 has been reached."
    )
    assert client.get("/admin/limits").json()["jobs"]["availableMonthlyQuota"] == 0
    server.org.advance(29)
    assert client.post("/export/forecast/net_arr", json={}).status_code == 400
    server.org.advance(1.01)
    fresh = queue(client)  # the first two left the 30-day window
    assert client.get("/admin/limits").json()["jobs"]["availableMonthlyQuota"] == 1
    # ... and their results expired with them (kept 30 days after endTime)
    old = [j for j in server.jobs if j != fresh]
    for job_id in old:
        assert job_status(client, job_id)["status"] == "DONE"
        error_of(client.get(f"/export/jobs/{job_id}/results"), 400, "invalid_jobId")
    assert client.get(f"/export/jobs/{fresh}/results").status_code == 200


# --------------------------------------------------------------------------- errors
def test_documented_export_errors(spec):
    org = SyntheticOrg(users=20, now=NOW, forecasts=("net_arr", "renewals"))
    with SimulatorServer(org, job_seconds=0, opted_in={"net_arr"}) as s, httpx.Client(
        base_url=s.base_url, headers={"apikey": DEMO_API_KEY}
    ) as c:
        post = "/export/forecast/{forecastId}"

        def check(r, status, code):
            conforms(spec, post, "post", r)
            return error_of(r, status, code)

        body = check(c.post("/export/forecast/deal_owner", json={}), 400, "no_such_forecast_config")
        assert body["message"] == "Forecast deal_owner does not exist in the ForecastTemplate."
        body = check(c.post("/export/forecast/renewals", json={}), 401, "no_optin")
        assert body["message"] == "No optins for scope 1000::MGR for forecast 'renewals'."
        for crm in (["forecast", "crm_total"], ["crm_closed"], ["forecast", "quota", "crm_closed", "crm_total"]):
            body = check(c.post("/export/forecast/net_arr", json={"typesToExport": crm}), 400, "type_not_supported")
            assert body["message"] == (
                "CRM Totals and CRM Closed are not supported typeToExport values for Export API. Please see "
                "Forecast API documentation if you’d like to retrieve CRM Totals or CRM Closed values.")
        wrong = ["forecast_value", "quota_value", "forecast"]
        body = check(c.post("/export/forecast/net_arr", json={"typesToExport": wrong}), 400, "bad_request")
        assert body["message"] == 'The following typesToExport values are invalid: ["forecast_value", "quota_value"]'
        check(c.post("/export/forecast/net_arr", json={"typesToExport": "forecast"}), 400, "bad_request")
        check(c.post("/export/forecast/net_arr", json={"typesToExport": []}), 400, "bad_request")
        body = check(c.post("/export/forecast/net_arr", json={"currency": "DOGE"}), 400, "bad_request")
        assert body["message"] == "The currency parameter is invalid."
        body = check(c.post("/export/forecast/net_arr", content=b"{\"timePeriod\": "), 400, "bad_request")
        assert body["message"].startswith("The request body was malformed")
        check(c.post("/export/forecast/net_arr", content=b"[1, 2]"), 400, "bad_request")
        check(c.post("/export/forecast/net_arr", json={"includeHistorical": "yes"}), 400, "bad_request")
        check(c.post("/export/forecast/net_arr", json={"schedule": "SOMETIMES"}), 400, "bad_request")
        check(c.post("/export/forecast/net_arr", json={"scopeId": "424242::MGR"}), 401, "no_optin")
        check(c.post("/export/forecast", json={}), 400, "missing_forecast_id")
        assert s.jobs == {}  # nothing was queued, no quota spent
        # an empty body means all defaults
        r = c.post("/export/forecast/net_arr")
        assert r.status_code == 200
        job = s.jobs[r.json()["jobId"]]
        assert job.types == ("forecast", "forecast_updated") and job.include_historical is False


def test_job_errors_unknown_job_and_other_users_jobs(spec):
    with SimulatorServer(make_org(), job_seconds=0, api_keys=("key-a", "key-b")) as s:
        a = httpx.Client(base_url=s.base_url, headers={"apikey": "key-a"})
        b = httpx.Client(base_url=s.base_url, headers={"apikey": "key-b"})
        with a, b:
            unknown = "0" * 24
            for method, path, spec_path in (
                ("GET", f"/export/jobs/{unknown}", "/export/jobs/{jobId}"),
                ("GET", f"/export/jobs/{unknown}/results", "/export/jobs/{jobId}/results"),
            ):
                r = a.request(method, path)
                conforms(spec, spec_path, method, r)
                error_of(r, 400, "invalid_jobId")
            r = a.patch(f"/export/jobs/{unknown}", json={"type": "CANCEL"})
            conforms(spec, "/export/jobs/{jobId}", "patch", r)
            error_of(r, 400, "invalid_jobId")

            job_id = queue(a)
            r = b.get(f"/export/jobs/{job_id}")
            conforms(spec, "/export/jobs/{jobId}", "get", r)
            assert error_of(r, 403, "forbidden")["message"] == "Invalid permissions to view this job."
            error_of(b.get(f"/export/jobs/{job_id}/results"), 403, "forbidden")
            assert b.get("/export/jobs").json() == []
            assert [j["jobId"] for j in a.get("/export/jobs").json()] == [job_id]
            assert s.jobs[job_id].user_id == 1000


def test_gateway_auth_and_unknown_routes(spec, server):
    base = server.base_url
    secret = "sk-live-THIS-MUST-NOT-LEAK"
    cases = [
        ({}, {"message": "No API key found in request"}),
        ({"apikey": ""}, {"message": "No API key found in request"}),
        ({"apikey": secret}, {"message": "Invalid authentication credentials"}),
        ({"Authorization": f"Bearer {DEMO_API_KEY}"}, {"message": "No API key found in request"}),
    ]
    for headers, expected in cases:
        for method, path in (("GET", "/export/jobs"), ("POST", "/export/forecast/net_arr"), ("GET", "/admin/limits")):
            r = httpx.request(method, base + path, headers=headers, json={} if method == "POST" else None)
            assert r.status_code == 401 and r.json() == expected
            assert secret not in r.text and secret not in str(r.headers)
    conforms(spec, "/export/forecast/{forecastId}", "post", httpx.post(base + "/export/forecast/net_arr", json={}))
    # header names are case-insensitive
    assert httpx.get(base + "/admin/limits", headers={"APIKEY": DEMO_API_KEY}).status_code == 200
    assert httpx.get(base + "/admin/limits", headers={"ApiKey": DEMO_API_KEY}).status_code == 200
    for method, path in (
        ("GET", "/export/forecast/list"),
        ("GET", "/nothing"),
        ("DELETE", "/export/jobs"),
        ("POST", "/export/jobs"),
        ("GET", "/export/jobs/abc/download"),
    ):
        r = httpx.request(method, base + path, headers={"apikey": DEMO_API_KEY})
        assert r.status_code == 404
        body = r.json()
        assert body["message"] == "no Route matched with those values" and body["request_id"]
    assert httpx.get(base.replace("/v4", "/v1") + "/export/jobs", headers={"apikey": DEMO_API_KEY}).status_code == 404
    assert secret not in repr(server.request_log) and DEMO_API_KEY not in repr(server.request_log)
    assert ("GET", "/v4/nothing", 404) in server.request_log
    assert ("GET", "/v4/export/jobs", 401) in server.request_log


# --------------------------------------------------------------------------- periods and the sync read
def test_time_period_falls_back_to_the_current_quarter(client):
    for asked in ("2026_Q1", "2025_Q2"):
        _, doc = export(client, {"timePeriod": asked, "includeHistorical": True})
        assert doc["timePeriods"][0]["timePeriodId"] == asked
        assert len(doc["timeFrames"]) == 14
    for asked in ("2099_Q1", "2026_Q5", "garbage", "2026-Q1", "2019_Q1"):
        job_id, doc = export(client, {"timePeriod": asked})
        assert doc["timePeriods"][0]["timePeriodId"] == "2026_Q2", asked
    _, doc = export(client, {})
    assert doc["timePeriods"][0]["timePeriodId"] == "2026_Q2"
    assert [f["timeFrameId"] for f in doc["timeFrames"]] == ["TF:2026-05-11"]


def test_sync_forecast_read_is_the_latest_week(client):
    # Clari's Forecast API, unlike its Export API, gives the CRM types (so the simulator's switch is off here)
    r = client.get("/forecast/net_arr", params={"typesToExport": "forecast,quota,crm_total"})
    assert r.status_code == 200
    doc = r.json()
    assert [f["timeFrameId"] for f in doc["timeFrames"]] == ["TF:2026-05-11"]
    values = {e["fieldId"]: set(e) & {"forecastValue", "quotaValue", "aggregationTotal"} for e in doc["entries"]}
    assert values == {"fc_commit": {"forecastValue"}, "fc_most_likely": {"forecastValue"},
                      "fc_best_case": {"forecastValue"}, "fc_quota": {"quotaValue"},
                      "crm_pipeline": {"aggregationTotal"}, "crm_closed_won": {"forecastValue"}}
    r = client.get("/forecast/net_arr", params={"timePeriod": "2026_Q1"})
    assert r.json()["timeFrames"] == [
        {"timeFrameId": "TF:2026-03-30", "startDate": "2026-03-30", "endDate": "2026-04-05"}]
    error_of(client.get("/forecast/nope"), 400, "no_such_forecast_config")
    error_of(client.get("/forecast/net_arr", params={"typesToExport": "bogus"}), 400, "bad_request")


# --------------------------------------------------------------------------- faults
def test_http_status_faults(spec, server, client):
    server.faults.http_status(429, retry_after="7")
    r = client.get("/admin/limits")
    assert r.status_code == 429 and r.json() == {"message": "API rate limit exceeded"}
    assert r.headers["retry-after"] == "7"
    assert client.get("/admin/limits").status_code == 200  # used up

    http_date = "Wed, 21 Oct 2026 07:28:00 GMT"
    server.faults.http_status(503, retry_after=http_date, path=r"^/export/jobs/[^/]+$", method="GET", times=2)
    job_id = queue(client)  # not a GET of a job: untouched
    for _ in range(2):
        r = client.get(f"/export/jobs/{job_id}")
        assert r.status_code == 503 and r.headers["retry-after"] == http_date
        body = error_of(r, 503, "internal_server_error")
        assert body["message"] == "An unexpected error occurred."
    assert client.get(f"/export/jobs/{job_id}").status_code == 200

    server.faults.http_status(500, times=None)
    for path, spec_path in (
        ("/export/jobs", "/export/jobs"),
        ("/admin/limits", "/admin/limits"),
        (f"/export/jobs/{job_id}/results", "/export/jobs/{jobId}/results"),
    ):
        r = client.get(path)
        conforms(spec, spec_path, "get", r)
        error_of(r, 500, "internal_server_error")
    conforms(spec, "/export/forecast/{forecastId}", "post", client.post("/export/forecast/net_arr", json={}))
    server.faults.clear()
    assert client.get("/admin/limits").status_code == 200
    assert "Retry-After" not in client.get("/admin/limits").headers


@pytest.mark.parametrize(
    "code,status",
    [
        ("export_monthly_quota_reached", 400),
        ("no_optin", 401),
        ("no_such_forecast_config", 400),
        ("type_not_supported", 400),
        ("bad_request", 400),
    ],
)
def test_error_code_faults(spec, server, client, code, status):
    server.faults.error_code(code)
    assert client.get("/admin/limits").status_code == 200  # only export requests are hit
    r = client.post("/export/forecast/net_arr", json={})
    conforms(spec, "/export/forecast/{forecastId}", "post", r)
    error_of(r, status, code)
    assert server.jobs == {}
    queue(client)


def test_delay_fault_makes_a_read_time_out(server, client):
    # The delay is ten times the read timeout, and nothing else waits on a clock: a slow machine
    # neither saves the delayed read nor fails the others.
    server.faults.delay(5.0, path=r"^/admin/limits$")
    assert client.get("/export/jobs").status_code == 200  # other paths are not delayed
    with httpx.Client(base_url=server.base_url, headers={"apikey": DEMO_API_KEY},
                      timeout=httpx.Timeout(60, read=0.5)) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get("/admin/limits")
    # The fault was used up by the one delayed request (how fast the next answers: bench/limits.py).
    assert server.faults.pending() == []
    assert client.get("/admin/limits").status_code == 200


def test_cut_fault_closes_the_connection_mid_body(server, client):
    job_id = queue(client, {"includeHistorical": True})
    full = client.get(f"/export/jobs/{job_id}/results").content
    server.faults.cut(1000)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/export/jobs/{job_id}/results")
    with httpx.Client(base_url=server.base_url, headers={"apikey": DEMO_API_KEY}) as c:
        with c.stream("GET", f"/export/jobs/{job_id}/results") as r:
            assert int(r.headers["content-length"]) == len(full)
    server.faults.cut(10)
    with httpx.Client(base_url=server.base_url, headers={"apikey": DEMO_API_KEY}) as c:
        with c.stream("GET", f"/export/jobs/{job_id}/results") as r:
            assert int(r.headers["content-length"]) == len(full)
            got = b""
            with pytest.raises(httpx.RemoteProtocolError):
                for chunk in r.iter_raw():
                    got += chunk
            assert got == full[:10]
    assert client.get(f"/export/jobs/{job_id}/results").content == full


@pytest.mark.parametrize(
    "outcome,path",
    [
        ("FAILED", ["SCHEDULED", "STARTED", "FAILED"]),
        ("ABORTED", ["SCHEDULED", "STARTED", "ABORTED"]),
        ("CANCELLED", ["SCHEDULED", "SCHEDULED", "CANCELLED"]),
        ("STUCK", ["SCHEDULED", "STARTED", "STARTED"]),
    ],
)
def test_job_outcome_faults(slow_server, slow_client, clock, outcome, path):
    slow_server.faults.job_outcome(outcome)
    job_id = queue(slow_client)
    seen = [job_status(slow_client, job_id)["status"]]
    clock.t += 1.5
    seen.append(job_status(slow_client, job_id)["status"])
    clock.t += 1000
    seen.append(job_status(slow_client, job_id)["status"])
    assert seen == path
    error_of(slow_client.get(f"/export/jobs/{job_id}/results"), 400, "invalid_jobId")
    limits = slow_client.get("/admin/limits").json()["jobs"]
    assert (job_id in limits["runningJobIds"]) == (outcome == "STUCK")
    if outcome == "STUCK":  # a stuck job holds its slot until cancelled
        r = slow_client.patch(f"/export/jobs/{job_id}", json={"type": "CANCEL"})
        assert r.json() == {"status": "ABORTED", "successful": True}
    # the next job runs normally
    normal = queue(slow_client)
    clock.t += 3
    assert job_status(slow_client, normal)["status"] == "DONE"


@pytest.fixture
def baseline(client):
    _, doc = export(client, {"includeHistorical": True, "typesToExport": TYPES})
    return doc


def faulty_result(server, client, mode, body=None) -> tuple[dict, httpx.Response]:
    server.faults.result_body(mode)
    job_id = queue(client, body or {"includeHistorical": True, "typesToExport": TYPES})
    job = job_status(client, job_id)
    assert job["status"] == "DONE"
    r = client.get(f"/export/jobs/{job_id}/results")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    return job, r


def natural_keys(entries):
    return [(e.get("timePeriodId"), e.get("timeFrameId"), e.get("userId"), e.get("fieldId")) for e in entries]


@pytest.mark.parametrize("mode", ["truncated", "invalid_json"])
def test_result_body_unparseable(server, client, baseline, mode):
    _, r = faulty_result(server, client, mode)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    full = json.dumps(baseline)  # only the size matters
    if mode == "truncated":
        assert len(r.content) < 0.7 * len(full.encode())
    job_id, again = export(client, {"includeHistorical": True, "typesToExport": TYPES})
    assert again == baseline  # one job only


def test_result_body_structure_faults(server, client, baseline):
    _, r = faulty_result(server, client, "missing_entries")
    doc = r.json()
    assert "entries" not in doc and doc["users"] == baseline["users"] and doc["timeFrames"] == baseline["timeFrames"]

    _, r = faulty_result(server, client, "empty")
    doc = r.json()
    assert doc["entries"] == [] and doc["users"] == baseline["users"]

    _, r = faulty_result(server, client, "extra_keys")
    doc = r.json()
    assert set(doc) - set(baseline) == {"exportMetadata"}
    assert len(doc["entries"]) == len(baseline["entries"])
    assert all(set(e) - set(b) == {"simulatorTrace", "legacyOwnerName"}
               for e, b in zip(doc["entries"], baseline["entries"]))


def test_result_body_period_fallback(server, client):
    _, asked = export(client, {"timePeriod": "2026_Q1"})
    assert asked["timePeriods"][0]["timePeriodId"] == "2026_Q1"
    _, r = faulty_result(server, client, "period_fallback", {"timePeriod": "2026_Q1"})
    assert r.json()["timePeriods"][0]["timePeriodId"] == "2026_Q2"


def test_result_body_rows_truncated(server, client, baseline):
    job, r = faulty_result(server, client, "rows_truncated")
    assert job["rowsTruncated"] is True and job["cellsTruncated"] is False
    entries = r.json()["entries"]
    n = len(baseline["entries"])
    assert 0.85 * n <= len(entries) < n
    assert entries == baseline["entries"][: len(entries)]


def test_result_body_unknown_refs(server, client, baseline):
    _, r = faulty_result(server, client, "unknown_refs")
    doc = r.json()
    users = {u["userId"] for u in doc["users"]}
    fields = {f["fieldId"] for f in doc["fields"]}
    frames = {f["timeFrameId"] for f in doc["timeFrames"]}
    assert len(doc["entries"]) > len(baseline["entries"])
    assert any(e["userId"] not in users for e in doc["entries"])
    assert any(e["fieldId"] not in fields for e in doc["entries"])
    assert any(e["timeFrameId"] not in frames for e in doc["entries"])


def test_result_body_bad_amounts(server, client, baseline):
    _, r = faulty_result(server, client, "bad_amounts")
    amounts = []
    for e in r.json()["entries"]:
        for key in ("forecastValue", "quotaValue", "aggregationTotal", "adjustmentValue"):
            if key in e:
                amounts.append(e[key])
    assert None in amounts and "n/a" in amounts and 1e300 in amounts
    assert any(isinstance(a, float) and a < 0 for a in amounts)


def test_result_body_duplicates(server, client, baseline):
    _, r = faulty_result(server, client, "duplicates")
    keys = natural_keys(r.json()["entries"])
    assert len(keys) > len(set(keys)) and set(keys) == set(natural_keys(baseline["entries"]))


# --------------------------------------------------------------------------- control endpoints
def test_control_endpoints(server, client):
    root = server.base_url[: -len("/v4")]
    state = httpx.get(root + "/_sim/state").json()
    assert state == {"now": NOW.isoformat(), "current_period": "2026_Q2", "jobs": 0}
    r = httpx.post(root + "/_sim/advance", json={"days": 60})
    assert r.status_code == 200 and r.json()["current_period"] == "2026_Q3"
    assert server.org.now == NOW + timedelta(days=60)
    assert httpx.post(root + "/_sim/advance", json={"days": "soon"}).status_code == 400

    r = httpx.post(root + "/_sim/faults",
                   json={"kind": "http_status", "status": 429, "retry_after": "3", "path": "/admin/limits"})
    assert r.status_code == 200 and r.json()["pending"][0]["kind"] == "http_status"
    assert client.get("/admin/limits").status_code == 429
    httpx.post(root + "/_sim/faults", json={"kind": "job_outcome", "status": "FAILED"})
    job_id = queue(client)
    assert job_status(client, job_id)["status"] == "FAILED"
    httpx.post(root + "/_sim/faults", json={"kind": "error_code", "code": "no_optin", "times": None})
    assert httpx.delete(root + "/_sim/faults").json() == {"ok": True, "pending": []}
    queue(client)
    for bad in ({"kind": "meteor"}, {"kind": "http_status"}, {"kind": "result_body", "mode": "gibberish"},
                {"kind": "cut", "after_bytes": -1}):
        assert httpx.post(root + "/_sim/faults", json=bad).status_code == 400
    assert httpx.get(root + "/_sim/state").json()["jobs"] == 2
    assert httpx.get(root + "/_sim/nope").status_code == 404
    assert all(not path.startswith("/_sim") for _m, path, _s in server.request_log)


def test_fault_plan_rules_in_order_and_thread_safe():
    plan = FaultPlan()
    plan.http_status(500, path="/a$", times=2)
    plan.http_status(502)
    plan.delay(0.1, method="POST")
    assert plan.take("http_status", "GET", "/x/a")["status"] == 500
    assert plan.take("http_status", "GET", "/b")["status"] == 502  # first matching rule wins
    assert plan.take("http_status", "GET", "/b") is None
    assert plan.take("http_status", "GET", "/a")["status"] == 500
    assert plan.take("http_status", "GET", "/a") is None
    assert plan.take("delay", "GET", "/a") is None and plan.take("delay", "post", "/a")["seconds"] == 0.1
    plan.result_body("empty", times=500)
    taken = []
    def take_many():
        for _ in range(100):
            taken.append(plan.take("result_body"))

    threads = [threading.Thread(target=take_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for t in taken if t) == 500
    with pytest.raises(ValueError):
        plan.job_outcome("DONE")
    with pytest.raises(ValueError):
        plan.error_code("teapot")
    with pytest.raises(ValueError):
        plan.http_status(200)
    plan.clear()
    assert plan.pending() == []


# --------------------------------------------------------------------------- stop and serve()
def test_stop_releases_the_port_and_cleans_up():
    s = SimulatorServer(make_org(), job_seconds=0).start()
    try:
        base, workdir = s.base_url, s.workdir
        with httpx.Client(base_url=base, headers={"apikey": DEMO_API_KEY}) as c:
            export(c)
            assert any(workdir.iterdir())
            s.stop()
            with pytest.raises(httpx.TransportError):
                c.get("/admin/limits")
        assert not workdir.exists()
        with pytest.raises(RuntimeError):
            _ = s.base_url
    finally:
        s.stop()  # idempotent


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_in_the_foreground_until_stopped(stop_signal):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = "from clari_data.ingest.simulator import serve; serve(port=0, users=12, job_seconds=0)"
    with subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            line = proc.stdout.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/v4)", line)
            assert match and DEMO_API_KEY in line, line
            with httpx.Client(base_url=match.group(1), headers={"apikey": DEMO_API_KEY}) as c:
                _, doc = export(c)
                assert len(doc["users"]) == 12
            proc.send_signal(stop_signal)
            assert proc.wait(timeout=10) == 0
            assert proc.stdout.read() == ""  # one line, then nothing
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_taken_port_fails_at_start(server):
    other = SimulatorServer(make_org(), port=server.port)
    with pytest.raises(OSError):
        other.start()
    other.stop()
