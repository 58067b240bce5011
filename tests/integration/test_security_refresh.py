"""Security at the refresh's edge (issue 16, items 1 and 6): a job id from Clari never names a file
or steers a URL, and a run that meets an error nobody expected is recorded as failed.

A spoofed or compromised endpoint is played by a small Clari look-alike on loopback that answers
exactly what a test hands it."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from builders import Export, small_org
from support import sql_value

from clari_data.ingest.client import BadJobIdError, ClariClient, check_job_id
from clari_data.ingest.refresh import download_path, run_refresh
from clari_data.storage.warehouse import Warehouse


class FakeClari:
    """Answers the Export API's four calls with what `job_id` and `document` say; records requests."""

    def __init__(self, job_id: str, document: dict | None = None) -> None:
        self.job_id, self.document, self.requests = job_id, document or {}, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if self.path.endswith("/admin/limits"):
                    self.answer(200, {"jobs": {"availableMonthlyQuota": 10, "monthlyQuota": 10}})
                elif self.path.endswith("/results"):
                    self.answer(200, fake.document)
                else:
                    self.answer(200, {"jobId": fake.job_id, "status": "DONE", "endTime": 1775000000000})

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.answer(200, {"jobId": fake.job_id})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4"

    def __enter__(self) -> FakeClari:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def settings_for(sim_settings, base_url: str, tmp_path: Path):
    clari = replace(sim_settings.clari, base_url=base_url, periods_back=0)
    warehouse = replace(sim_settings.warehouse, downloads_dir=str(tmp_path / "downloads"))
    return replace(sim_settings, clari=clari, warehouse=warehouse)


@pytest.mark.parametrize("hostile", ["VICTIM", "../VICTIM", "a/b", "a b", "x" * 129, "", "abc\n", "ab%2F..",
                                     "\u0430bc"])
def test_check_job_id_takes_only_the_safe_shape(hostile, tmp_path):
    hostile = hostile.replace("VICTIM", str(tmp_path / "victim"))
    with pytest.raises(BadJobIdError, match="not 1 to 128 letters"):
        check_job_id(hostile)
    assert check_job_id("6073683781a6da229df71e00") == "6073683781a6da229df71e00"
    assert check_job_id("hostile-2_x") == "hostile-2_x"


def test_a_job_id_that_is_a_path_writes_and_deletes_nothing(sim_settings, tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    document = Export(users=small_org(), weeks=["2026-01-05"]).row("r1", "2026-01-05", commit=1).document()
    with FakeClari(str(tmp_path / "victim"), document) as clari:
        settings = settings_for(sim_settings, clari.base_url, tmp_path)
        with Warehouse.from_settings(settings) as wh:
            before = wh.table_contents()
            result = run_refresh(settings, wh, periods=["2026_Q1"])
            [outcome] = result.outcomes
            assert outcome.status == "failed" and outcome.kind == "bad_job_id", outcome
            assert "not 1 to 128 letters" in outcome.error
            assert wh.table_contents() == before
            assert sql_value(wh, "SELECT count(*) FROM export_jobs") == 0  # never stored, never polled again
    assert victim.read_text() == "precious"
    assert [m for m, _ in clari.requests] == ["GET", "POST"]  # the id was never put in a URL


def test_downloads_are_named_by_the_app(tmp_path):
    job_id = "6073683781a6da229df71e00"
    path = download_path(tmp_path, job_id)
    assert path.parent == tmp_path and path.name.startswith("export-") and job_id not in path.name
    assert path == download_path(tmp_path, job_id)  # the same job reuses a complete earlier download
    assert download_path(tmp_path, "other") != path


def test_a_stored_job_with_an_unsafe_id_is_abandoned_for_a_new_one(sim_settings, simulator, tmp_path):
    period = simulator.org.current_period()
    with Warehouse.from_settings(sim_settings) as wh:
        wh.remember_job("../../etc/x", "net_arr", period)
        result = run_refresh(sim_settings, wh, periods=[period])
        assert result.outcome == "success", result.failures
        assert wh.in_flight_job("net_arr", period) is None
    assert not any("etc" in path for _m, path, _s in simulator.request_log)


def test_a_client_refuses_unsafe_ids_before_any_request(tmp_path):
    import httpx

    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200, json={}))
    with ClariClient("https://api.example.com/v4", "k", transport=transport) as client:
        for call in (lambda: client.get_job("../x"), lambda: client.cancel_job("a/b"),
                     lambda: client.download_results("..", tmp_path / "x.json")):
            with pytest.raises(BadJobIdError):
                call()
    assert seen == []


def test_a_period_id_not_shaped_yyyy_qn_is_refused(sim_settings, tmp_path):
    """Read from an export, a period id names pages, links and files: another shape is refused."""
    document = Export(period="FY26-Q1 ![p](https://tracker.example/p.png)", users=small_org(),
                      weeks=["2026-01-05"]).row("r1", "2026-01-05", commit=1, quota=2).document()
    with FakeClari("abc123", document) as clari:
        settings = settings_for(sim_settings, clari.base_url, tmp_path)
        settings = replace(settings, clari=replace(settings.clari, periods_back=1))
        with Warehouse.from_settings(settings) as wh:
            before = wh.table_contents()
            result = run_refresh(settings, wh)
            assert wh.table_contents() == before
            outcome = sql_value(wh, "SELECT outcome FROM runs ORDER BY run_id DESC LIMIT 1")
    [failed] = result.outcomes
    assert failed.kind == "bad_period" and "YYYY_QN" in failed.error and outcome == "failed"


def test_an_unexpected_error_ends_the_run_as_failed(sim_settings, simulator, monkeypatch, caplog):
    """A bug between exports (here in deriving the quarters before the current one): the run is
    recorded as failed with what happened, never left "running"; the traceback is in the log."""
    from clari_data.ingest import refresh

    def broken(current, periods_back):
        raise ValueError(f"no quarter before {current}")

    monkeypatch.setattr(refresh, "periods_ending_at", broken)
    with Warehouse.from_settings(sim_settings) as wh:
        result = run_refresh(sim_settings, wh)
        outcome, error = wh.cursor().execute("SELECT outcome, error FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert outcome == "partial" and "unexpected ValueError: no quarter before" in error  # the first export loaded
    assert [o.kind for o in result.failures] == ["unexpected"]
    assert "Traceback" in caplog.text and "Traceback" not in error


def test_a_bug_inside_one_export_is_recorded_as_that_exports_failure(sim_settings, simulator, monkeypatch):
    from clari_data.ingest import refresh

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(refresh, "_job_time", broken)
    with Warehouse.from_settings(sim_settings) as wh:
        result = run_refresh(sim_settings, wh, periods=[simulator.org.current_period()])
        [(outcome, error)] = wh.cursor().execute("SELECT outcome, error FROM runs").fetchall()
        [kind] = [r[0] for r in wh.cursor().execute("SELECT failure_kind FROM export_attempts").fetchall()]
    assert outcome == "failed" and "unexpected KeyError" in error and kind == "unexpected"
    assert result.outcome == "failed"
