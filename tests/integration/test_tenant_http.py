"""What a real tenant does beyond the published spec, over loopback HTTP: the simulator's options
for it (CRM types refused, RUNNING-style statuses, job ids as `id`, cellsTruncated, fiscal
calendars) and the client coping with each."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from clari_data.__main__ import EXIT_CONFIG
from clari_data.ingest.client import ClariClient, JobDeadlineError, TypeNotSupportedError
from clari_data.ingest.simulator import DEMO_API_KEY, SimulatorServer, SyntheticOrg
from clari_data.shared.config import Secret

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 5, 13, 15, 0, tzinfo=UTC)  # week 7 of 2026_Q2
ALL_TYPES = ["forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed"]
TYPES = ["forecast", "quota", "forecast_updated", "adjustment"]
CRM_MESSAGE = ("CRM Totals and CRM Closed are not supported typeToExport values for Export API. Please see "
               "Forecast API documentation if you’d like to retrieve CRM Totals or CRM Closed values.")
pytestmark = pytest.mark.timeout(60)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make_org(**options) -> SyntheticOrg:
    return SyntheticOrg(users=20, now=options.pop("now", NOW), **options)


def http(server: SimulatorServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"apikey": DEMO_API_KEY}, timeout=10)


def clari(server: SimulatorServer, **options) -> ClariClient:
    options = {"poll_interval": 0.01, "poll_deadline": 10, **options}
    return ClariClient(server.base_url, Secret(DEMO_API_KEY), **options)


def job_doc(c: httpx.Client, job_id: str) -> dict:
    r = c.get(f"/export/jobs/{job_id}")
    assert r.status_code == 200, r.text
    doc = r.json()
    return doc["job"] if "job" in doc else doc


# --------------------------------------------------------------------------- CRM types
def test_crm_types_refused_by_default_with_clari_error_body():
    with SimulatorServer(make_org(), job_seconds=0) as s, http(s) as c:
        for types in (["crm_total"], ["forecast", "crm_closed"], ALL_TYPES):
            r = c.post("/export/forecast/net_arr", json={"typesToExport": types})
            assert r.status_code == 400
            body = r.json()
            assert set(body) == {"code", "namespace", "errorId", "message", "orgId"}
            assert (body["code"], body["message"], body["orgId"]) == ("type_not_supported", CRM_MESSAGE, 280627)
        assert s.jobs == {}  # no job, no quota spent
        with clari(s) as client, pytest.raises(TypeNotSupportedError) as info:
            client.queue_export("net_arr", types_to_export=ALL_TYPES)
        assert info.value.status == 400 and info.value.code == "type_not_supported"
        # the four other types are what a tenant answers
        r = c.post("/export/forecast/net_arr", json={"typesToExport": TYPES, "includeHistorical": True})
        assert r.status_code == 200


def test_the_switch_accepts_crm_types_and_the_numbers_agree():
    with SimulatorServer(make_org(), job_seconds=0, accept_crm_types=True) as s, http(s) as c:
        docs = {}
        for name, types in (("crm", ALL_TYPES), ("plain", TYPES)):
            r = c.post("/export/forecast/net_arr", json={"typesToExport": types, "includeHistorical": True})
            assert r.status_code == 200, r.text
            job_id = r.json()["jobId"]
            assert job_doc(c, job_id)["status"] == "DONE"
            docs[name] = c.get(f"/export/jobs/{job_id}/results").json()
    crm = {(e["timeFrameId"], e["userId"], e["fieldId"]): e for e in docs["crm"]["entries"]}
    plain = {(e["timeFrameId"], e["userId"], e["fieldId"]): e for e in docs["plain"]["entries"]}
    assert crm.keys() == plain.keys()
    for key in ("crm_closed_won", "crm_pipeline"):
        pairs = [(crm[k], plain[k]) for k in crm if k[2] == key]
        assert pairs and all(a["aggregationTotal"] == b["forecastValue"] and "aggregationTotal" not in b
                             for a, b in pairs)


def test_cli_switch_reaches_the_server(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "clari_data", "simulator", "--port", "0", "--users", "12", "--job-seconds", "0",
           "--accept-crm-types", "--fiscal-start-month", "2", "--job-states", "scheduled,RUNNING",
           "--job-id-field", "id"]
    with subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            line = proc.stdout.readline()
            match = re.search(r"(http://127\.0\.0\.1:\d+/v4)", line)
            assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
            with httpx.Client(base_url=match.group(1), headers={"apikey": DEMO_API_KEY}) as c:
                r = c.post("/export/forecast/net_arr", json={"typesToExport": ALL_TYPES})
                assert r.status_code == 200 and set(r.json()) == {"id"}
                job = job_doc(c, r.json()["id"])
                assert job["status"] == "DONE" and "jobId" not in job
                doc = c.get(f"/export/jobs/{job['id']}/results").json()
                state = httpx.get(match.group(1)[: -len("/v4")] + "/_sim/state").json()
            (period,) = doc["timePeriods"]
            assert period["timePeriodId"] == state["current_period"]
            first, last = period["startDate"], period["endDate"]
            assert int(first[5:7]) in (2, 5, 8, 11) and int(last[5:7]) in (1, 4, 7, 10)  # fiscal quarters
            assert period["year"] == period["timePeriodId"][:4] and period["label"] == period["timePeriodId"][5:]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("args", [["--fiscal-start-month", "13"], ["--job-states", "SCHEDULED,DONE"],
                                  ["--job-id-field", "job_id"]])
def test_cli_refuses_bad_simulator_options(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "clari_data", "simulator", "--port", "0", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == EXIT_CONFIG and "Traceback" not in proc.stderr and proc.stdout == ""


# --------------------------------------------------------------------------- job states
def test_job_states_between_scheduled_and_done():
    clock = FakeClock()
    with SimulatorServer(make_org(), job_seconds=3, clock=clock, job_states=("SCHEDULED", "QUEUED", "RUNNING")) as s, \
            http(s) as c:
        job_id = c.post("/export/forecast/net_arr", json={}).json()["jobId"]
        seen = []
        for _ in range(7):
            seen.append(job_doc(c, job_id)["status"])
            clock.t += 0.5
        # the first state holds the first third of the job's 3 s, the others share the rest
        assert seen == ["SCHEDULED", "SCHEDULED", "QUEUED", "QUEUED", "RUNNING", "RUNNING", "DONE"]

        # a job in any unfinished state holds a concurrency slot; cancelling it after the first state aborts it
        running = c.post("/export/forecast/net_arr", json={}).json()["jobId"]
        clock.t += 2.2
        assert job_doc(c, running)["status"] == "RUNNING"
        limits = c.get("/admin/limits").json()["jobs"]
        assert limits["runningJobIds"] == [running] and limits["availableConcurrentLimit"] == 2
        assert c.patch(f"/export/jobs/{running}", json={"type": "CANCEL"}).json() == {
            "status": "ABORTED", "successful": True}
        queued = c.post("/export/forecast/net_arr", json={}).json()["jobId"]
        assert c.patch(f"/export/jobs/{queued}", json={"type": "CANCEL"}).json()["status"] == "CANCELLED"

        s.faults.job_outcome("STUCK")
        stuck = c.post("/export/forecast/net_arr", json={}).json()["jobId"]
        clock.t += 1000
        assert job_doc(c, stuck)["status"] == "RUNNING"


@pytest.mark.parametrize("states", [(), ("SCHEDULED", "DONE"), ("running",), ("FAILED",), ("",)])
def test_job_states_must_be_unfinished_statuses(states):
    with pytest.raises(ValueError):
        SimulatorServer(make_org(), job_states=states)


@pytest.mark.parametrize("envelope", ["flat", "wrapped"])
@pytest.mark.parametrize("states", [("SCHEDULED", "RUNNING"), ("QUEUED", "RUNNING", "STARTED"), ("RUNNING",)])
def test_client_waits_through_states_it_does_not_know(envelope, states, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="clari_data.ingest.client")
    with SimulatorServer(make_org(), job_seconds=0.6, envelope=envelope, job_states=states) as s, clari(s) as client:
        job_id = client.queue_export("net_arr", types_to_export=TYPES)
        seen: list[str] = []
        job = client.wait_for_job(job_id, on_status=lambda j: seen.append(j.status))
        assert job.status == "DONE" and job.job_id == job_id
        assert client.download_results(job_id, tmp_path / "export.json") > 0
    distinct = list(dict.fromkeys(seen))
    assert distinct[-1] == "DONE" and set(distinct[:-1]) <= set(states) and len(seen) > len(distinct)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"export job {job_id} is ")]
    assert len(logged) == len(distinct)  # once per status, however many polls
    unknown = [m for m in logged if "does not document" in m]
    assert len(unknown) == len(set(distinct) - {"SCHEDULED", "STARTED", "DONE"})


def test_client_deadline_cancels_a_job_stuck_in_an_unknown_state():
    with SimulatorServer(make_org(), job_seconds=0.05, job_states=("QUEUED", "RUNNING")) as s, \
            clari(s, poll_deadline=0.3) as client:
        s.faults.job_outcome("STUCK")
        job_id = client.queue_export("net_arr")
        with pytest.raises(JobDeadlineError) as info:
            client.wait_for_job(job_id)
        assert info.value.job.status == "RUNNING" and "cancelled" in str(info.value)
        assert s.jobs[job_id].status == "ABORTED"
        assert ("PATCH", f"/v4/export/jobs/{job_id}", 200) in s.request_log


# --------------------------------------------------------------------------- job id as `id`
@pytest.mark.parametrize("envelope", ["flat", "wrapped"])
def test_job_id_sent_as_id(envelope, tmp_path):
    with SimulatorServer(make_org(), job_seconds=0, envelope=envelope, job_id_field="id") as s:
        with http(s) as c:
            r = c.post("/export/forecast/net_arr", json={})
            assert r.json() == {"id": r.json()["id"]} and re.fullmatch(r"[0-9a-f]{24}", r.json()["id"])
            job = job_doc(c, r.json()["id"])
            assert job["id"] == r.json()["id"] and "jobId" not in job
            assert all("id" in j and "jobId" not in j for j in c.get("/export/jobs").json())
        with clari(s) as client:
            job_id = client.queue_export("net_arr", types_to_export=TYPES, time_period="2026_Q1")
            job = client.wait_for_job(job_id)
            assert job.job_id == job_id and job.status == "DONE"
            client.download_results(job_id, tmp_path / "export.json")
    doc = json.loads((tmp_path / "export.json").read_text())
    assert doc["timePeriods"][0]["timePeriodId"] == "2026_Q1"


def test_job_id_field_must_be_known():
    with pytest.raises(ValueError):
        SimulatorServer(make_org(), job_id_field="job_id")


# --------------------------------------------------------------------------- cellsTruncated
def test_cells_truncated_fault(tmp_path):
    with SimulatorServer(make_org(), job_seconds=0) as s, http(s) as c, clari(s) as client:
        body = {"typesToExport": TYPES, "includeHistorical": True}
        whole_id = c.post("/export/forecast/net_arr", json=body).json()["jobId"]
        assert job_doc(c, whole_id)["cellsTruncated"] is False
        whole = c.get(f"/export/jobs/{whole_id}/results").json()["entries"]

        s.faults.result_body("cells_truncated")
        job_id = client.queue_export("net_arr", types_to_export=TYPES)
        job = client.wait_for_job(job_id)
        assert (job.cells_truncated, job.rows_truncated, job.truncation) == (True, False, "cells")
        assert job.raw["cellsTruncated"] is True
        client.download_results(job_id, tmp_path / "cut.json")
    cut = json.loads((tmp_path / "cut.json").read_text())["entries"]
    amounts = ("forecastValue", "quotaValue", "aggregationTotal", "adjustmentValue")
    keys = lambda e: (e["timeFrameId"], e["userId"], e["fieldId"])  # noqa: E731
    assert [keys(e) for e in cut] == [keys(e) for e in whole]  # every row is there ...
    emptied = [e for e in cut if not any(k in e for k in amounts)]
    assert 0.05 * len(cut) <= len(emptied) <= 0.15 * len(cut)  # ... but the last tenth lost its values
    assert cut[: len(cut) - len(emptied)] == whole[: len(cut) - len(emptied)]


# --------------------------------------------------------------------------- fiscal calendars
def test_fiscal_tenant_over_http():
    org = make_org(now=datetime(2027, 1, 20, 15, 0, tzinfo=UTC), fiscal_start_month=2)
    with SimulatorServer(org, job_seconds=0) as s, http(s) as c:
        root = s.base_url[: -len("/v4")]
        assert httpx.get(root + "/_sim/state").json()["current_period"] == "2027_Q4"
        # no timePeriod: the current fiscal quarter, the way a refresh learns it from Clari
        job_id = c.post("/export/forecast/net_arr", json={"typesToExport": TYPES}).json()["jobId"]
        assert job_doc(c, job_id)["fileName"].startswith("clari_export_net_arr_2027_Q4_")
        doc = c.get(f"/export/jobs/{job_id}/results").json()
        period = doc["timePeriods"][0]
        assert (period["timePeriodId"], period["label"], period["year"], period["startDate"], period["endDate"]) == (
            "2027_Q4", "Q4", "2027", "2026-11-01", "2027-01-31")
        assert doc["timeFrames"] == [{"timeFrameId": "TF:2027-01-18", "startDate": "2027-01-18",
                                      "endDate": "2027-01-24"}]
        # a past fiscal quarter whose week 1 starts before its first day (1 February 2026, a Sunday)
        job_id = c.post("/export/forecast/net_arr", json={"timePeriod": "2027_Q1", "includeHistorical": True,
                                                          "typesToExport": TYPES}).json()["jobId"]
        doc = c.get(f"/export/jobs/{job_id}/results").json()
        assert doc["timePeriods"][0]["startDate"] == "2026-02-01"
        assert min(f["timeFrameId"] for f in doc["timeFrames"]) == "TF:2026-01-26"
        # a calendar quarter id that is not one of this tenant's periods falls back to the current one
        job_id = c.post("/export/forecast/net_arr", json={"timePeriod": "2026_Q1"}).json()["jobId"]
        assert c.get(f"/export/jobs/{job_id}/results").json()["timePeriods"][0]["timePeriodId"] == "2027_Q4"
