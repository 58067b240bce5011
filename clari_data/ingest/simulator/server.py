"""An HTTP simulator of the Clari Export API v4, standard library only.

`SimulatorServer` serves a `SyntheticOrg` under `/v4` the way the real service behaves (see
docs/reference/clari-export-api.md): asynchronous export jobs with their lifecycle, the
org's limits, the documented error bodies (including the refusal of the CRM export types),
gateway 401/404/429 answers, and the silent fallback of an unknown time period to the current
quarter. Options reproduce what production integrations meet beyond the published spec (a
`RUNNING` status, a job id sent as `id`); `FaultPlan` injects the failures a client must
survive. `/_sim/...` (no auth, outside `/v4`) lets a test in another process move the clock
and inject faults.

The API key is compared and never logged, echoed or stored in the request log.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from clari_data.shared.config import EXPORT_TYPES, PERIOD_RE

from .org import CURRENCIES, DEFAULT_TYPES, ORG_ID, SyntheticOrg

DEMO_API_KEY = "demo-key"

TERMINAL = frozenset({"DONE", "FAILED", "CANCELLED", "ABORTED"})
# The spec contradicts itself on both of these; the simulator follows what a tenant answers:
# - its job status enum lists SCHEDULED and STARTED before the end (and its prose says a job "will be
#   initialized with STARTED"), while /admin/limits speaks of jobs "in the RUNNING state";
# - its typesToExport enum lists crm_total and crm_closed, while its own type_not_supported example
#   refuses them for the Export API (production integrations never ask for them).
RUNNING_STATES = ("SCHEDULED", "STARTED")
CRM_TYPES = frozenset({"crm_total", "crm_closed"})
JOB_ID_FIELDS = ("jobId", "id")
DAY_MS = 86_400_000
RETENTION_MS = 30 * DAY_MS
QUOTA_WINDOW_MS = 30 * DAY_MS

JOB_OUTCOMES = ("FAILED", "ABORTED", "CANCELLED", "STUCK")
RESULT_MODES = (
    "truncated",
    "invalid_json",
    "missing_entries",
    "period_fallback",
    "rows_truncated",
    "cells_truncated",
    "unknown_refs",
    "bad_amounts",
    "duplicates",
    "empty",
    "extra_keys",
)
ERROR_CODES = (
    "export_monthly_quota_reached", "no_optin", "no_such_forecast_config", "type_not_supported", "bad_request",
)

TYPE_NOT_SUPPORTED_MESSAGE = (
    "CRM Totals and CRM Closed are not supported typeToExport values for Export API. Please see "
    "Forecast API documentation if you’d like to retrieve CRM Totals or CRM Closed values."
)


# --------------------------------------------------------------------------- faults
@dataclass
class _Rule:
    kind: str
    times: int | None
    method: str | None
    path: re.Pattern[str] | None
    args: dict[str, Any]


class FaultPlan:
    """Failures to inject, consumed in the order they were added. Thread-safe.

    Every rule applies `times` times (None: for ever). `method`/`path` (a regex searched in the
    path relative to /v4, e.g. r"/results$") narrow which requests a rule hits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []

    # -- adding rules
    def _add(self, kind: str, times: int | None, method: str | None = None, path: str | None = None,
             **args: Any) -> None:
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError("times must be a whole number of at least 1, or None for every time")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string such as 'GET'")
        pattern = re.compile(path) if path is not None else None
        with self._lock:
            self._rules.append(_Rule(kind, times, method.upper() if method else None, pattern, args))

    def http_status(
        self,
        status: int,
        retry_after: str | int | float | None = None,
        path: str | None = None,
        method: str | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer `status` (429: rate limit body; 5xx: internal_server_error body), with Retry-After."""
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status between 400 and 599")
        if retry_after is not None:
            retry_after = str(retry_after)
        self._add("http_status", times, method, path, status=status, retry_after=retry_after)

    def error_code(self, code: str, times: int | None = 1) -> None:
        """The next POST /export/forecast/... answers the documented error for `code`."""
        if code not in ERROR_CODES:
            raise ValueError(f"code must be one of {', '.join(ERROR_CODES)}")
        self._add("error_code", times, "POST", r"^/export/forecast/", code=code)

    def delay(self, seconds: float, path: str | None = None, method: str | None = None, times: int | None = 1) -> None:
        """Sleep `seconds` before answering."""
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            raise ValueError("seconds must be a number of at least 0")
        self._add("delay", times, method, path, seconds=float(seconds))

    def cut(self, after_bytes: int, path: str | None = r"/results$", method: str | None = None,
            times: int | None = 1) -> None:
        """Send the full Content-Length, then only `after_bytes` bytes of the body, then close."""
        if not isinstance(after_bytes, int) or isinstance(after_bytes, bool) or after_bytes < 0:
            raise ValueError("after_bytes must be a whole number of at least 0")
        self._add("cut", times, method, path, after_bytes=after_bytes)

    def job_outcome(self, status: str, times: int | None = 1) -> None:
        """The next queued job ends FAILED, ABORTED or CANCELLED, or stays STARTED ("STUCK")."""
        if status not in JOB_OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(JOB_OUTCOMES)}")
        self._add("job_outcome", times, status=status)

    def result_body(self, mode: str, times: int | None = 1) -> None:
        """Alter the next job's result document (see RESULT_MODES)."""
        if mode not in RESULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(RESULT_MODES)}")
        self._add("result_body", times, mode=mode)

    def add(self, kind: str, **kwargs: Any) -> None:
        """Add a rule by name, as `POST /_sim/faults {"kind": ..., ...}` does."""
        methods: dict[str, Callable[..., None]] = {
            "http_status": self.http_status,
            "error_code": self.error_code,
            "delay": self.delay,
            "cut": self.cut,
            "job_outcome": self.job_outcome,
            "result_body": self.result_body,
        }
        if kind not in methods:
            raise ValueError(f"kind must be one of {', '.join(methods)}")
        methods[kind](**kwargs)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, Any]]:
        """The rules not yet used up, as plain data."""
        with self._lock:
            return [
                {"kind": r.kind, "times": r.times, "method": r.method,
                 "path": r.path.pattern if r.path else None, **r.args}
                for r in self._rules
            ]

    # -- using rules
    def take(self, kind: str, method: str | None = None, path: str | None = None) -> dict[str, Any] | None:
        """Consume the first matching rule of `kind`; its arguments, or None."""
        with self._lock:
            for rule in self._rules:
                if rule.kind != kind:
                    continue
                if rule.method and method and rule.method != method.upper():
                    continue
                if rule.path is not None and (path is None or not rule.path.search(path)):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                return dict(rule.args)
        return None


# --------------------------------------------------------------------------- jobs
@dataclass(eq=False)
class Job:
    """One export job. `status` is derived from the (real) time since it was queued."""

    job_id: str
    user_id: int
    forecast_id: str
    time_period: str  # the period actually exported (after any fallback)
    requested_period: Any  # what the request asked for
    types: tuple[str, ...]
    include_historical: bool
    scope_id: str | None
    currency: str | None
    as_of: datetime  # the org clock when queued: the data snapshot
    submitted_ms: int  # org clock, epoch ms
    queued_at: float  # server clock (monotonic seconds)
    job_seconds: float
    outcome: str | None  # None (runs normally) or one of JOB_OUTCOMES
    states: tuple[str, ...]  # the statuses it reports before it ends (SimulatorServer's job_states)
    id_field: str  # the key its id travels under (SimulatorServer's job_id_field)
    result_mode: str | None
    file_path: Path
    file_name: str
    clock: Callable[[], float] = field(repr=False, default=time.monotonic)
    ready: threading.Event = field(default_factory=threading.Event, repr=False)
    error: str | None = None
    entries: int | None = None
    downloads: int = 0
    viewed: bool = False
    rows_truncated: bool = False
    cells_truncated: bool = False
    cancelled: tuple[str, float] | None = None  # (CANCELLED | ABORTED, server clock)
    final: str | None = None
    end_ms: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def status(self) -> str:
        return self.poll(0.0)

    def poll(self, wait: float = 0.0) -> str:
        """The status now; when the job is due to be DONE, wait up to `wait` s for its file."""
        with self._lock:
            if self.final:
                return self.final
            if self.cancelled:
                return self._finish(self.cancelled[0], self.cancelled[1] - self.queued_at)
            elapsed = self.clock() - self.queued_at
            js = self.job_seconds
            if elapsed < js / 3:
                return self.states[0]
            if self.outcome == "STUCK":
                return self.states[-1]
            if self.outcome == "CANCELLED":
                return self.states[0] if elapsed < js else self._finish("CANCELLED", js)
            if elapsed < js:
                return self._running_state(elapsed)
            if self.outcome in ("FAILED", "ABORTED"):
                return self._finish(self.outcome, js)
        if not self.ready.wait(wait):
            return self.states[-1]
        with self._lock:
            if self.final:
                return self.final
            return self._finish("FAILED" if self.error else "DONE", js)

    def _running_state(self, elapsed: float) -> str:
        """The first state holds the first third of the job's time, the others share the rest."""
        running = self.states[1:] or self.states
        share = 2 * self.job_seconds / 3 / len(running)
        return running[min(len(running) - 1, int((elapsed - self.job_seconds / 3) / share))]

    def _finish(self, status: str, seconds: float) -> str:
        self.final = status
        self.end_ms = self.submitted_ms + int(round(max(0.0, seconds) * 1000))
        return status

    def cancel(self) -> str | None:
        """Cancel if still running: the new status, or None when already finished."""
        current = self.status
        with self._lock:
            if current in TERMINAL:
                return None
            new = "CANCELLED" if current == self.states[0] else "ABORTED"
            self.cancelled = (new, self.clock())
        return self.status

    def to_json(self, org_id: int = ORG_ID, wait: float = 0.0) -> dict[str, Any]:
        status = self.poll(wait)
        doc: dict[str, Any] = {
            self.id_field: self.job_id,
            "userId": self.user_id,
            "orgId": org_id,
            "title": "Forecast Export",
            "module": "FORECAST",
            "startTime": self.submitted_ms,
        }
        if self.end_ms is not None:  # the spec types these as integers: absent until the job ends
            doc["endTime"] = self.end_ms
            doc["expiredTime"] = self.end_ms + RETENTION_MS
        doc.update(
            {
                "version": 1,
                "fileName": self.file_name,
                "fileType": "JSON",
                "status": status,
                "viewed": self.viewed,
                "cellsTruncated": self.cells_truncated,
                "rowsTruncated": self.rows_truncated,
                "downloads": self.downloads,
                "currency": self.currency or "USD",
            }
        )
        return doc


# --------------------------------------------------------------------------- responses
@dataclass
class _Response:
    status: int
    body: bytes = b""
    file: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delete_file: bool = False


def _json(status: int, doc: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(doc, ensure_ascii=False).encode(), headers=headers or {})


def _error(status: int, code: str, message: str, namespace: str = "exports") -> _Response:
    return _json(
        status,
        {"code": code, "namespace": namespace, "errorId": str(uuid.uuid1()), "message": message, "orgId": ORG_ID},
    )


class _ApiError(Exception):
    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


def _internal_error() -> _Response:
    return _error(500, "internal_server_error", "An unexpected error occurred.")


# --------------------------------------------------------------------------- HTTP plumbing
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: SimulatorServer) -> None:
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClariSimulator/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:  # never log requests (they would show the key)
        pass

    def _go(self) -> None:
        self.server.sim._handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _go

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


# --------------------------------------------------------------------------- the server
class SimulatorServer:
    """The Clari Export API v4 on a loopback port, backed by a `SyntheticOrg`.

    `accept_crm_types`: take `crm_total`/`crm_closed` in an export's typesToExport. Off by default,
    as Clari's Export API answers them with 400 `type_not_supported`; the synchronous
    `/forecast/{id}` read (Clari's Forecast API, which the error message points to) always takes them.
    `job_states`: the statuses a job reports before it ends, in order. The first is the queued
    state (the first third of `job_seconds`; cancelling then gives CANCELLED, later ABORTED),
    the others share the rest of the time. The spec lists SCHEDULED and STARTED; its prose also
    names RUNNING, so e.g. ("SCHEDULED", "RUNNING") or ("QUEUED", "RUNNING", "STARTED") test a
    client's patience with statuses it does not know.
    `job_id_field`: "jobId" (the spec) or "id" (what PostHog's source reads), for the queue answer
    and the job bodies.
    """

    def __init__(
        self,
        org: SyntheticOrg | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: tuple[str, ...] | list[str] = (DEMO_API_KEY,),
        job_seconds: float = 0.3,
        envelope: str = "flat",
        concurrent_limit: int = 3,
        monthly_quota: int = 1000,
        opted_in: set[str] | frozenset[str] | None = None,
        accept_crm_types: bool = False,
        job_states: tuple[str, ...] | list[str] = RUNNING_STATES,
        job_id_field: str = "jobId",
        workdir: Path | str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if envelope not in ("flat", "wrapped"):
            raise ValueError("envelope must be 'flat' or 'wrapped'")
        job_states = tuple(job_states)
        if not job_states or not all(isinstance(s, str) and re.fullmatch(r"[A-Z_]+", s) and s not in TERMINAL
                                     for s in job_states):
            raise ValueError("job_states must name at least one status in capitals, none of "
                             f"{', '.join(sorted(TERMINAL))}; got {job_states!r}")
        if job_id_field not in JOB_ID_FIELDS:
            raise ValueError(f"job_id_field must be one of {', '.join(JOB_ID_FIELDS)}")
        if job_seconds < 0:
            raise ValueError("job_seconds must not be negative")
        if not api_keys:
            raise ValueError("api_keys must hold at least one key")
        self.org = org if org is not None else SyntheticOrg()
        self.host = host
        self.port = port
        self._api_keys = tuple(api_keys)
        self.job_seconds = float(job_seconds)
        self.envelope = envelope
        self.concurrent_limit = concurrent_limit
        self.monthly_quota = monthly_quota
        self.opted_in = set(opted_in) if opted_in is not None else None
        self.accept_crm_types = accept_crm_types
        self.job_states = job_states
        self.job_id_field = job_id_field
        self.clock = clock
        self.faults = FaultPlan()
        self.request_log: list[tuple[str, str, int]] = []
        self.jobs: dict[str, Job] = {}
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.workdir: Path | None = self._workdir_arg
        self._own_workdir = False
        self._lock = threading.RLock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []

    def __repr__(self) -> str:  # no keys in here
        return f"SimulatorServer(base_url={self.base_url if self._httpd else None!r}, jobs={len(self.jobs)})"

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self.port), self)  # fails here if the port is taken
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="clari-sim-"))
            self._own_workdir = True
        else:
            self.workdir.mkdir(parents=True, exist_ok=True)
        self._httpd = httpd
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="clari-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for worker in list(self._workers):
            worker.join(timeout=5)
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = self._workdir_arg
            self._own_workdir = False

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not running: call start() first")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/v4"

    # ----------------------------------------------------------------- dispatch
    def _handle(self, h: _Handler) -> None:
        method = h.command.upper()
        split = urlsplit(h.path)
        path = split.path
        try:
            body = h.read_body()
        except (ValueError, OSError):
            h.close_connection = True
            return
        control = path == "/_sim" or path.startswith("/_sim/")
        cut: dict[str, Any] | None = None
        try:
            if control:
                resp = self._control(method, path, body)
            else:
                rel = path[3:] if path.startswith("/v4/") else None
                delay = self.faults.take("delay", method, rel) if rel is not None else None
                if delay:
                    time.sleep(delay["seconds"])
                resp = self._api(method, rel, parse_qs(split.query), body, h)
                if rel is not None:
                    cut = self.faults.take("cut", method, rel)
        except _ApiError as exc:
            resp = exc.response
        except Exception:  # the client sees a 500 like the real service's
            resp = _internal_error()
        if not control:
            with self._lock:
                self.request_log.append((method, path, resp.status))
        self._send(h, method, resp, cut)

    def _send(self, h: _Handler, method: str, resp: _Response, cut: dict[str, Any] | None) -> None:
        try:
            if resp.file is not None:
                size = resp.file.stat().st_size
            else:
                size = len(resp.body)
            h.send_response(resp.status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(size))
            for name, value in resp.headers.items():
                h.send_header(name, value)
            if cut is not None:
                h.send_header("Connection", "close")
            h.end_headers()
            if method == "HEAD":
                return
            limit = cut["after_bytes"] if cut is not None else size
            if resp.file is not None:
                with resp.file.open("rb") as fh:
                    left = limit
                    while left > 0:
                        chunk = fh.read(min(256 * 1024, left))
                        if not chunk:
                            break
                        h.wfile.write(chunk)
                        left -= len(chunk)
            else:
                h.wfile.write(resp.body[:limit])
            h.wfile.flush()
            if cut is not None:
                h.close_connection = True
                try:
                    h.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        finally:
            if resp.delete_file and resp.file is not None:
                resp.file.unlink(missing_ok=True)

    def _api(self, method: str, rel: str | None, query: dict[str, list[str]], body: bytes, h: _Handler) -> _Response:
        route = self._route(method, rel) if rel is not None else None
        if rel is not None:
            status_fault = self.faults.take("http_status", method, rel)
            if status_fault:
                return self._status_fault(status_fault)
        if route is None:
            return _json(404, {"message": "no Route matched with those values", "request_id": uuid.uuid4().hex})
        key = h.headers.get("apikey")
        if not key:
            return _json(401, {"message": "No API key found in request"})
        user_id = self._user_for_key(key)
        if user_id is None:
            return _json(401, {"message": "Invalid authentication credentials"})
        name, arg = route
        handler = getattr(self, f"_api_{name}")
        return handler(user_id, arg, query, body)

    @staticmethod
    def _route(method: str, rel: str) -> tuple[str, str | None] | None:
        parts = [unquote(p) for p in rel.strip("/").split("/")] if rel.strip("/") else []
        if method == "POST" and parts[:2] == ["export", "forecast"]:
            if len(parts) == 2:
                return ("missing_forecast", None)
            if len(parts) == 3 and parts[2]:
                return ("export", parts[2])
        if parts[:2] == ["export", "jobs"]:
            if len(parts) == 2 and method == "GET":
                return ("list_jobs", None)
            if len(parts) == 3 and method == "GET":
                return ("job", parts[2])
            if len(parts) == 3 and method == "PATCH":
                return ("cancel", parts[2])
            if len(parts) == 4 and parts[3] == "results" and method == "GET":
                return ("results", parts[2])
        if method == "GET" and parts == ["admin", "limits"]:
            return ("limits", None)
        if method == "GET" and len(parts) == 2 and parts[0] == "forecast" and parts[1]:
            return ("forecast_sync", parts[1])
        return None

    def _user_for_key(self, key: str) -> int | None:
        for index, known in enumerate(self._api_keys):
            if secrets.compare_digest(key.encode(), known.encode()):
                return 1000 + index  # key 0 belongs to the CRO (scope 1000::MGR)
        return None

    def _user_scope(self, user_id: int) -> str:
        index = user_id - 1000
        if 0 <= index < len(self.org.users):
            return self.org.users[index]["scopeId"]
        return f"{user_id}::MGR"

    @staticmethod
    def _status_fault(fault: dict[str, Any]) -> _Response:
        status = fault["status"]
        headers = {"Retry-After": fault["retry_after"]} if fault.get("retry_after") is not None else {}
        if status == 429:
            return _json(429, {"message": "API rate limit exceeded"}, headers)
        if status >= 500:
            resp = _internal_error()
            resp.status = status
            resp.headers.update(headers)
            return resp
        if status == 401:
            return _json(401, {"message": "Invalid authentication credentials"}, headers)
        if status == 403:
            resp = _error(403, "forbidden", "Invalid permissions to view this job.")
            resp.headers.update(headers)
            return resp
        if status == 404:
            return _json(404, {"message": "no Route matched with those values", "request_id": uuid.uuid4().hex},
                         headers)
        resp = _error(status, "SWW", "Something went wrong")
        resp.headers.update(headers)
        return resp

    # ----------------------------------------------------------------- export requests
    def _documented_error(self, code: str, forecast_id: str, user_id: int) -> _Response:
        if code == "export_monthly_quota_reached":
            return self._quota_error()
        if code == "no_optin":
            scope = self._user_scope(user_id)
            return _error(401, "no_optin", f"No optins for scope {scope} for forecast '{forecast_id}'.", "fcw")
        if code == "no_such_forecast_config":
            return _error(400, code, f"Forecast {forecast_id} does not exist in the ForecastTemplate.", "fcw")
        if code == "type_not_supported":
            return _error(400, code, TYPE_NOT_SUPPORTED_MESSAGE, "fcw")
        return _error(400, "bad_request", "The request body was malformed: {}", "fcw")

    def _quota_error(self) -> _Response:
        return _error(
            400,
            "export_monthly_quota_reached",
            f"The monthly quota limit of {self.monthly_quota} or concurrent limit of {self.concurrent_limit} "
            "has been reached.",
        )

    def _parse_request(self, forecast_id: str, user_id: int, params: dict[str, Any], *, export: bool) -> dict[str, Any]:
        """Validate an export (`export`) or Forecast API read the way the real service does; raise _ApiError."""

        def bad(message: str) -> _ApiError:
            return _ApiError(_error(400, "bad_request", message, "fcw"))

        if forecast_id not in self.org.forecasts:
            raise _ApiError(self._documented_error("no_such_forecast_config", forecast_id, user_id))
        if self.opted_in is not None and forecast_id not in self.opted_in:
            raise _ApiError(self._documented_error("no_optin", forecast_id, user_id))

        types = params.get("typesToExport")
        if types is None:
            types = list(DEFAULT_TYPES)
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            raise bad(f"The following typesToExport values are invalid: {json.dumps(types, ensure_ascii=False)}")
        invalid = [t for t in types if t not in EXPORT_TYPES]
        if invalid:
            raise bad(f"The following typesToExport values are invalid: {json.dumps(invalid, ensure_ascii=False)}")
        if export and not self.accept_crm_types and CRM_TYPES & set(types):
            raise _ApiError(self._documented_error("type_not_supported", forecast_id, user_id))

        historical = params.get("includeHistorical", False)
        if historical is None:
            historical = False
        if not isinstance(historical, bool):
            raise bad("The request body was malformed: includeHistorical must be true or false, "
                      f"not {json.dumps(historical)}")

        currency = params.get("currency")
        if currency is not None and (not isinstance(currency, str) or currency not in CURRENCIES):
            raise bad("The currency parameter is invalid.")

        schedule = params.get("schedule")
        if schedule is not None and schedule not in ("NONE", "ONCE", "MAX"):
            raise bad(f"The request body was malformed: schedule must be NONE, ONCE or MAX, not {json.dumps(schedule)}")
        export_format = params.get("exportFormat")
        if export_format is not None and export_format not in ("JSON", "CSV"):
            raise bad("The request body was malformed: exportFormat must be JSON or CSV, "
                      f"not {json.dumps(export_format)}")
        if export_format == "CSV":
            raise bad("The export format CSV is unavailable for this export; use JSON.")

        scope = params.get("scopeId")
        if scope is not None:
            if not isinstance(scope, str):
                raise bad(f"The request body was malformed: scopeId must be a string, not {json.dumps(scope)}")
            if self.org.subtree(scope) is None:
                raise _ApiError(
                    _error(401, "no_optin", f"No optins for scope {scope} for forecast '{forecast_id}'.", "fcw")
                )

        requested = params.get("timePeriod")
        if requested is not None and not isinstance(requested, str):
            raise bad("The request body was malformed: timePeriod must be a string like \"2026_Q1\", "
                      f"not {json.dumps(requested)}")
        as_of = self.org.now
        current = self.org.periods(as_of)[0]
        period = requested if isinstance(requested, str) and PERIOD_RE.fullmatch(requested) else current
        if period not in self.org.periods(as_of):
            period = current  # the real API silently falls back to the current quarter
        return {
            "types": tuple(types),
            "include_historical": historical,
            "currency": currency,
            "scope_id": scope,
            "requested_period": requested,
            "time_period": period,
            "current_period": current,
            "as_of": as_of,
        }

    def _api_missing_forecast(self, user_id: int, _arg: Any, _query: Any, _body: bytes) -> _Response:
        return _error(400, "missing_forecast_id", "The forecastId query parameter is required.", "fcw")

    def _api_export(self, user_id: int, forecast_id: str, _query: Any, body: bytes) -> _Response:
        fault = self.faults.take("error_code", "POST", f"/export/forecast/{forecast_id}")
        if fault:
            return self._documented_error(fault["code"], forecast_id, user_id)
        text = body.decode("utf-8", errors="replace").strip()
        if text:
            try:
                params = json.loads(text)
            except ValueError:
                params = None
            if not isinstance(params, dict):
                return _error(400, "bad_request", f"The request body was malformed: {text[:200]}", "fcw")
        else:
            params = {}
        request = self._parse_request(forecast_id, user_id, params, export=True)

        with self._lock:
            now_ms = int(self.org.now.timestamp() * 1000)
            active = sum(1 for j in self.jobs.values() if j.status not in TERMINAL)
            used = len(self._quota_jobs(now_ms))
            if active >= self.concurrent_limit or used >= self.monthly_quota:
                return self._quota_error()
            self._expire_results(now_ms)
            outcome = self.faults.take("job_outcome")
            mode = self.faults.take("result_body")
            job_id = f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"
            period = request["time_period"]
            result_mode = mode["mode"] if mode else None
            if result_mode == "period_fallback":
                period = request["current_period"]
            stamp = request["as_of"].strftime("%Y%m%d_%H%M%S")
            job = Job(
                job_id=job_id,
                user_id=user_id,
                forecast_id=forecast_id,
                time_period=period,
                requested_period=request["requested_period"],
                types=request["types"],
                include_historical=request["include_historical"],
                scope_id=request["scope_id"],
                currency=request["currency"],
                as_of=request["as_of"],
                submitted_ms=now_ms,
                queued_at=self.clock(),
                job_seconds=self.job_seconds,
                outcome=outcome["status"] if outcome else None,
                states=self.job_states,
                id_field=self.job_id_field,
                result_mode=result_mode,
                file_path=Path(self.workdir or tempfile.gettempdir()) / f"{job_id}.json",
                file_name=f"clari_export_{forecast_id}_{period}_{stamp}.json",
                clock=self.clock,
            )
            self.jobs[job_id] = job
            worker = threading.Thread(target=self._run_job, args=(job,), name=f"clari-sim-job-{job_id}", daemon=True)
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()
        return _json(200, {self.job_id_field: job_id})

    def _quota_jobs(self, now_ms: int) -> list[Job]:
        """Jobs spending the rolling 30-day quota: submitted in the window, not cancelled."""
        return [
            j
            for j in self.jobs.values()
            if j.submitted_ms > now_ms - QUOTA_WINDOW_MS and j.status not in ("CANCELLED", "ABORTED")
        ]

    def _expire_results(self, now_ms: int) -> None:
        """Delete result files past their expiredTime (30 days after the job ended, org clock)."""
        for job in self.jobs.values():
            if job.end_ms is not None and job.end_ms + RETENTION_MS < now_ms and job.file_path.exists():
                job.file_path.unlink(missing_ok=True)

    def _run_job(self, job: Job) -> None:
        try:
            if job.outcome is not None:
                return  # failed, aborted, cancelled and stuck jobs leave no result
            part = job.file_path.with_name(job.file_path.name + ".part")
            with part.open("wb") as fh:
                info = self.org.write_export(
                    fh,
                    job.forecast_id,
                    job.time_period,
                    job.types,
                    job.include_historical,
                    job.as_of,
                    scope_id=job.scope_id,
                    currency=job.currency,
                )
            job.entries = info["entries"]
            if job.result_mode and job.result_mode != "period_fallback":
                _mutate_result(part, job)
            os.replace(part, job.file_path)
        except Exception as exc:  # reported as a FAILED job
            job.error = type(exc).__name__
        finally:
            job.ready.set()

    # ----------------------------------------------------------------- jobs
    def _job_for(self, user_id: int, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise _ApiError(_error(400, "invalid_jobId", f"Cannot find job {job_id}. Check the jobId and try again."))
        if job.user_id != user_id:
            raise _ApiError(_error(403, "forbidden", "Invalid permissions to view this job."))
        return job

    def _api_job(self, user_id: int, job_id: str, _query: Any, _body: bytes) -> _Response:
        job = self._job_for(user_id, job_id)
        doc = job.to_json(wait=10.0)
        return _json(200, {"job": doc} if self.envelope == "wrapped" else doc)

    def _api_list_jobs(self, user_id: int, _arg: Any, _query: Any, _body: bytes) -> _Response:
        with self._lock:
            mine = [j for j in self.jobs.values() if j.user_id == user_id]
        return _json(200, [j.to_json() for j in mine])

    def _api_cancel(self, user_id: int, job_id: str, _query: Any, body: bytes) -> _Response:
        try:
            params = json.loads(body or b"null")
        except ValueError:
            params = None
        if not isinstance(params, dict) or params.get("type") != "CANCEL":
            text = body.decode("utf-8", errors="replace")[:200]
            return _error(400, "bad_request", f"The request body was malformed: {text}")
        job = self._job_for(user_id, job_id)
        new = job.cancel()
        if new is None:
            return _error(400, "export_failed_to_cancel",
                          "Cannot cancel the job because it already finished executing.")
        return _json(200, {"status": new, "successful": True})

    def _api_results(self, user_id: int, job_id: str, _query: Any, _body: bytes) -> _Response:
        job = self._job_for(user_id, job_id)
        if job.poll(10.0) != "DONE":
            return _error(400, "invalid_jobId", "Cannot retrieve data for job because it has not finished executing.")
        now_ms = int(self.org.now.timestamp() * 1000)
        if job.end_ms is not None and job.end_ms + RETENTION_MS < now_ms:
            job.file_path.unlink(missing_ok=True)
        if not job.file_path.exists():
            return _error(400, "invalid_jobId", f"The results of job {job_id} have expired.")
        with job._lock:
            job.downloads += 1
            job.viewed = True
        return _Response(200, file=job.file_path)

    def _api_limits(self, user_id: int, _arg: Any, _query: Any, _body: bytes) -> _Response:
        with self._lock:
            now_ms = int(self.org.now.timestamp() * 1000)
            running = [j.job_id for j in self.jobs.values() if j.status not in TERMINAL]
            submitted = [j.job_id for j in self._quota_jobs(now_ms)]
        return _json(
            200,
            {
                "jobs": {
                    "concurrentLimit": self.concurrent_limit,
                    "monthlyQuota": self.monthly_quota,
                    "runningJobIds": running,
                    "submittedJobIds": submitted,
                    "availableConcurrentLimit": max(0, self.concurrent_limit - len(running)),
                    "availableMonthlyQuota": max(0, self.monthly_quota - len(submitted)),
                }
            },
        )

    def _api_forecast_sync(self, user_id: int, forecast_id: str, query: dict[str, list[str]],
                           _body: bytes) -> _Response:
        params: dict[str, Any] = {}
        if "timePeriod" in query:
            params["timePeriod"] = query["timePeriod"][-1]
        if "typesToExport" in query:
            params["typesToExport"] = [t for v in query["typesToExport"] for t in v.split(",") if t]
        for name in ("currency", "scopeId"):
            if name in query:
                params[name] = query[name][-1]
        request = self._parse_request(forecast_id, user_id, params, export=False)
        fd, name = tempfile.mkstemp(prefix="sync-", suffix=".json", dir=self.workdir)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                self.org.write_export(
                    fh,
                    forecast_id,
                    request["time_period"],
                    request["types"],
                    False,
                    request["as_of"],
                    scope_id=request["scope_id"],
                    currency=request["currency"],
                )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Response(200, file=path, delete_file=True)

    # ----------------------------------------------------------------- control endpoints
    def _state(self) -> dict[str, Any]:
        return {"now": self.org.now.isoformat(), "current_period": self.org.current_period(), "jobs": len(self.jobs)}

    def _control(self, method: str, path: str, body: bytes) -> _Response:
        path = path.rstrip("/")
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            return _json(400, {"message": "the body must be a JSON object"})
        if not isinstance(params, dict):
            return _json(400, {"message": "the body must be a JSON object"})
        try:
            if path == "/_sim/state" and method == "GET":
                return _json(200, self._state())
            if path == "/_sim/advance" and method == "POST":
                days = params.get("days", 1)
                if not isinstance(days, (int, float)) or isinstance(days, bool):
                    raise ValueError("days must be a number")
                self.org.advance(days)
                return _json(200, self._state())
            if path == "/_sim/faults" and method == "POST":
                kind = params.pop("kind", None)
                self.faults.add(kind, **params)
                return _json(200, {"ok": True, "pending": self.faults.pending()})
            if path == "/_sim/faults" and method == "DELETE":
                self.faults.clear()
                return _json(200, {"ok": True, "pending": []})
            if path == "/_sim/faults" and method == "GET":
                return _json(200, {"pending": self.faults.pending()})
        except (TypeError, ValueError, re.error) as exc:
            return _json(400, {"message": str(exc)})
        return _json(404, {"message": "no Route matched with those values", "request_id": uuid.uuid4().hex})


# --------------------------------------------------------------------------- result faults
AMOUNT_KEYS = ("forecastValue", "quotaValue", "aggregationTotal", "adjustmentValue")


def _mutate_result(path: Path, job: Job) -> None:
    """Rewrite a finished result document (one entry per line) the way `job.result_mode` says."""
    mode = job.result_mode
    if mode == "truncated":
        at = max(1, path.stat().st_size // 2)
        with path.open("r+b") as fh:
            fh.seek(at)
            while at > 1 and fh.read(1)[0] & 0xC0 == 0x80:  # cut between characters: bad JSON, good UTF-8
                at -= 1
                fh.seek(at)
            fh.truncate(at)
        return
    if mode == "invalid_json":
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.seek(size // 2)
            window = fh.read(1 << 20)
            at = window.find(b",\n")
            if at >= 0:
                fh.seek(size // 2 + at)
                fh.write(b";")  # `};\n{`: a separator JSON does not know
            else:
                fh.seek(0)
                fh.write(b"[")  # `["entries":` cannot parse either
        return

    out_path = path.with_name(path.name + ".mutated")
    n_total = job.entries or 0
    cut_short = mode in ("rows_truncated", "cells_truncated")
    keep = n_total - max(1, n_total // 10) if cut_short and n_total else n_total
    if mode == "rows_truncated":
        job.rows_truncated = True
    if mode == "cells_truncated":
        job.cells_truncated = True
    bad_values: list[Any] = [None, -1.0, 1e300, "n/a", -250000.0, "", "1,000.00"]
    with path.open("rb") as src, out_path.open("wb") as dst:
        first = src.readline()  # {"entries":[
        if mode == "missing_entries":
            dst.write(b"{\n")
        elif mode == "extra_keys":
            dst.write(b'{"exportMetadata":{"generator":"clari-simulator","schemaVersion":"9.9"},\n"entries":[')
        else:
            dst.write(first.rstrip(b"\n"))
        sep = b"\n"
        index = 0
        for line in src:
            stripped = line.rstrip(b"\n")
            if stripped in (b"],", b"]"):
                break
            entry = json.loads(stripped.rstrip(b","))
            outputs: list[dict[str, Any]] = []
            if mode == "missing_entries" or mode == "empty":
                pass
            elif mode == "rows_truncated":
                if index < keep:
                    outputs.append(entry)
            elif mode == "cells_truncated":
                if index >= keep:  # the rows are all there, the last tenth lost their values
                    for key in AMOUNT_KEYS:
                        entry.pop(key, None)
                outputs.append(entry)
            elif mode == "unknown_refs":
                outputs.append(entry)
                if index < 3 or index % 50 == 0:
                    ghost = dict(entry)
                    which = index % 3
                    if which == 0:
                        ghost["userId"] = f"{ORG_ID}:00E4M0000ZZZZZZZZ"
                    elif which == 1:
                        ghost["fieldId"] = "fc_retired_field"
                    else:
                        ghost["timeFrameId"] = "TF:1999-12-27"
                    outputs.append(ghost)
            elif mode == "bad_amounts":
                if index % 7 == 0:
                    for key in AMOUNT_KEYS:
                        if key in entry:
                            entry[key] = bad_values[(index // 7) % len(bad_values)]
                            break
                outputs.append(entry)
            elif mode == "duplicates":
                outputs.append(entry)
                if index % 10 == 0:
                    outputs.append(dict(entry))
            elif mode == "extra_keys":
                entry["simulatorTrace"] = {"row": index}
                entry["legacyOwnerName"] = None
                outputs.append(entry)
            else:
                outputs.append(entry)
            for item in outputs:
                dst.write(sep + json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
                sep = b",\n"
            index += 1
        if mode != "missing_entries":
            dst.write(b"\n],\n")
        shutil.copyfileobj(src, dst)
    os.replace(out_path, path)


# --------------------------------------------------------------------------- foreground
def serve(
    port: int = 8765,
    host: str = "127.0.0.1",
    users: int = 60,
    seed: int = 7,
    job_seconds: float = 0.3,
    envelope: str = "flat",
    *,
    fiscal_start_month: int = 1,
    accept_crm_types: bool = False,
    job_states: tuple[str, ...] = RUNNING_STATES,
    job_id_field: str = "jobId",
) -> None:
    """Run a simulator in the foreground until Ctrl-C or SIGTERM (options: `SimulatorServer`, `SyntheticOrg`)."""
    org = SyntheticOrg(seed=seed, users=users, fiscal_start_month=fiscal_start_month)
    server = SimulatorServer(org, host=host, port=port, job_seconds=job_seconds, envelope=envelope,
                             accept_crm_types=accept_crm_types, job_states=job_states, job_id_field=job_id_field)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    server.start()
    try:
        print(f"Clari API simulator at {server.base_url} (API key: {DEMO_API_KEY}); Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
