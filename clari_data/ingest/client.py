"""HTTP client for Clari's Export API v4 (see docs/reference/clari-export-api.md).

Exports are asynchronous and every queued export spends the org's quota, so the rules are:
reads are retried on rate limits, server errors and broken connections; the export POST is
retried only when no job can have been created; every failure becomes one `ClariError` whose
text tells a person what to do. The API key travels only in the `apikey` header: it is kept
out of messages, logs and exception chains, and no response or request object (whose headers
would carry it) is ever attached to an error.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from clari_data.shared.config import EXPORT_TYPES, ClariSettings, ConfigError, Secret, check_base_url, check_period
from clari_data.shared.retry import RetryPolicy

log = logging.getLogger("clari_data.ingest.client")

# The job statuses the spec's enum lists; the last four are the only terminal ones. Its prose also
# names RUNNING, and production pollers keep polling on anything that is neither DONE nor terminal,
# so a status outside this list (RUNNING, QUEUED, ...) means "still running", never an error.
JOB_STATES = ("SCHEDULED", "STARTED", "DONE", "FAILED", "CANCELLED", "ABORTED")
TERMINAL_STATES = frozenset({"DONE", "FAILED", "CANCELLED", "ABORTED"})
UNDOCUMENTED_STATUS = " (a status the Export API does not document: still running)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures that happen before a single byte of the request left: a POST hit by one cannot
# have queued an export, so repeating it costs no quota.
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAX_MESSAGE = 300
# Clari's job ids are 24 hex digits; anything outside this shape could steer a URL or a file path,
# so it is refused wherever an id enters (Clari's answers, the warehouse's stored jobs).
JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)
DEFAULT_RETRY = ClariSettings().retry_policy()  # [clari]'s defaults, for a client made without settings
CHUNK = 64 * 1024


class ClariError(Exception):
    """A failed call to Clari; str() is one sentence saying what is wrong and what to do."""

    retryable = False  # whether the same call may succeed if simply tried again later

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 retryable: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        if retryable is not None:
            self.retryable = retryable


class AuthError(ClariError):
    """401 from the gateway: no key, or a wrong one."""


class NotOptedInError(ClariError):
    """401 no_optin: the key's user is not opted in to the forecast."""


class QuotaReachedError(ClariError):
    """400 export_monthly_quota_reached (the rolling 30-day quota or the concurrent-job limit)."""


class UnknownForecastError(ClariError):
    """400 no_such_forecast_config."""


class TypeNotSupportedError(ClariError):
    """400 type_not_supported."""


class NotReadyError(ClariError):
    """400 invalid_jobId: results asked for before DONE, or no such job."""

    retryable = True


class BadRequestError(ClariError):
    """400 bad_request and any other 4xx."""


class CancelFailedError(ClariError):
    """400 export_failed_to_cancel."""


class RateLimitedError(ClariError):
    """429 after the retries, or a Retry-After longer than this client waits."""

    retryable = True


class ServerError(ClariError):
    """5xx after the retries."""

    retryable = True


class NetworkError(ClariError):
    """No answer (time-out, refused or cut connection) after the retries."""

    retryable = True


class BadJobIdError(ClariError):
    """A job id that is not letters, digits, '-' and '_' (at most 128): never used in a path or URL."""


class OutcomeUnknownError(ClariError):
    """An export POST whose answer never came: a job may exist, so it is not repeated."""


class JobFailedError(ClariError):
    """The job ended FAILED, ABORTED or CANCELLED."""

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message, code=job.status)
        self.job = job


class JobDeadlineError(ClariError):
    """The job was not DONE by the polling deadline (and was cancelled)."""

    retryable = True

    def __init__(self, message: str, job: Job) -> None:
        super().__init__(message, code=job.status)
        self.job = job


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    rows_truncated: bool
    cells_truncated: bool
    start_time: int | None
    end_time: int | None
    file_name: str | None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def truncation(self) -> str | None:
        """What Clari says it cut from the result ("rows", "cells" or "rows and cells"), else None.

        Either flag means the document is not the whole forecast, so it must not be loaded as one.
        """
        cut = [name for name, flag in (("rows", self.rows_truncated), ("cells", self.cells_truncated)) if flag]
        return " and ".join(cut) or None


@dataclass(frozen=True)
class Limits:
    concurrent_limit: int | None
    monthly_quota: int | None
    available_concurrent: int | None
    available_monthly: int | None


# Clari's published job-list example writes every value as a string with a trailing comma
# ('STARTED,', 'false,'); tolerate that rather than trip over it.
def _text(value: Any) -> str:
    return str(value).strip().rstrip(",").strip() if value is not None else ""


def _int(value: Any) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def _unwrapped(data: Any) -> Any:
    """The job object, whether Clari sent it flat (as the spec shows) or as {"job": {...}}."""
    if isinstance(data, dict) and isinstance(data.get("job"), dict):
        return data["job"]
    return data


def _job_id_of(data: Any) -> str:
    """The job id, under `jobId` (the spec) or `id` (what PostHog's source reads); "" if neither."""
    data = _unwrapped(data)
    if not isinstance(data, dict):
        return ""
    return _text(data.get("jobId")) or _text(data.get("id"))


def check_job_id(job_id: Any) -> str:
    """The job id if it has the safe shape; else BadJobIdError, quoting at most 40 of its characters."""
    if isinstance(job_id, str) and JOB_ID_RE.fullmatch(job_id):
        return job_id
    shown = ascii(str(job_id)[:40])
    raise BadJobIdError(
        f"Clari's export job id {shown} is not 1 to 128 letters, digits, '-' or '_', so it was not used; "
        "check that [clari] base_url is https://api.clari.com/v4 and nothing between here and Clari "
        "rewrites its answers.")


def _job_from(data: Any) -> Job | None:
    data = _unwrapped(data)
    if not isinstance(data, dict):
        return None
    job_id, status = _job_id_of(data), _text(data.get("status")).upper()
    if not job_id or not status:
        return None
    check_job_id(job_id)
    return Job(
        job_id=job_id,
        status=status,
        rows_truncated=_text(data.get("rowsTruncated")).lower() == "true",
        cells_truncated=_text(data.get("cellsTruncated")).lower() == "true",
        start_time=_int(data.get("startTime")),
        end_time=_int(data.get("endTime")),
        file_name=_text(data.get("fileName")) or None,
        raw=data,
    )


# What each of Clari's error codes means for the person who has to act; {said} is Clari's text.
BY_CODE: dict[str, tuple[type[ClariError], str]] = {
    "export_monthly_quota_reached": (QuotaReachedError,
        "Clari's export quota is used up ({said}). Exports free up over Clari's rolling 30 days (the "
        "concurrent-job limit as running exports finish); check /admin/limits or ask your Clari CSM."),
    "no_such_forecast_config": (UnknownForecastError,
        "Clari has no forecast {forecast!r} ({said}); put the Forecast Tab's slug from its URL "
        "(app.clari.com/forecast/<id>) in [clari] forecast_ids."),
    "no_optin": (NotOptedInError,
        "The API key's Clari user is not opted in to forecast {forecast!r} ({said}); opt that user in to "
        "the Forecast Tab in Clari, or use the key of a user who is."),
    "type_not_supported": (TypeNotSupportedError,
        "Clari refused an export type for this tenant ({said}); remove crm_total and crm_closed from "
        "[clari] types_to_export."),
    "invalid_jobId": (NotReadyError,
        "Clari has no results for export job {job}, or no such job ({said}); wait until the job is DONE, "
        "or queue a new export."),
    "export_failed_to_cancel": (CancelFailedError,
        "Clari could not cancel export job {job} ({said}); it has most likely finished already, so there "
        "is nothing to cancel."),
}
# Everything else, by HTTP status; the first match wins.
BY_STATUS: tuple[tuple[Callable[[int], bool], type[ClariError], str], ...] = (
    (lambda s: s == 404, BadRequestError,
     "Clari has no endpoint for the request to {what} ({said}); check that [clari] base_url is "
     "https://api.clari.com/v4."),
    (lambda s: s == 403, BadRequestError,
     "Clari refused access to {what} ({said}); the API key's user may only see its own jobs."),
    (lambda s: s == 429, RateLimitedError,
     "Clari kept rate-limiting the request to {what} after {tries} attempts ({said}); wait a few minutes "
     "and try again."),
    (lambda s: s >= 500, ServerError,
     "Clari answered HTTP {status} to the request to {what} {tries} time(s) ({said}); Clari may be having "
     "trouble, try again later."),
    (lambda s: s >= 400, BadRequestError,
     "Clari refused the request to {what} ({said}); check the forecast id, time period, types_to_export, "
     "currency and scope_id settings."),
    (lambda s: True, ClariError,
     "Clari answered the request to {what} with an unexpected HTTP {status}; check that [clari] base_url "
     "is https://api.clari.com/v4."),
)


class _ShortBody(Exception):
    """The download ended before Content-Length bytes arrived."""


class ClariClient:
    def __init__(self, base_url: str, api_key: Secret | str, *, timeout: float = 30.0,
                 retry: RetryPolicy = DEFAULT_RETRY, max_retry_after: float = 300.0,
                 poll_interval: float = 5.0, poll_deadline: float = 900.0,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key or "")
        if not self._key:
            raise ConfigError("no Clari API key given; set CLARI_API_KEY or [clari] api_key")
        check_base_url(base_url, "Clari base_url")
        self.base_url = base_url.rstrip("/")
        self.retry, self.max_retry_after = retry, max_retry_after
        self.poll_interval, self.poll_deadline = poll_interval, poll_deadline
        self._sleep, self._clock, self._rng = sleep, clock, rng or random.Random()
        # Redirects stay off: httpx would forward the custom `apikey` header to another host.
        self._http = httpx.Client(
            base_url=self.base_url + "/", transport=transport, timeout=timeout, follow_redirects=False,
            headers={"apikey": self._key.reveal(), "accept": "application/json"},
        )

    @classmethod
    def from_settings(cls, clari: ClariSettings, **overrides: Any) -> ClariClient:
        if not clari.api_key:
            raise ConfigError("no Clari API key is set (demo mode); set CLARI_API_KEY or [clari] api_key")
        options: dict[str, Any] = {
            "timeout": clari.timeout_seconds, "retry": clari.retry_policy(),
            "poll_interval": clari.poll_interval_seconds, "poll_deadline": clari.poll_deadline_seconds,
        }
        return cls(clari.base_url, clari.api_key, **{**options, **overrides})

    def __repr__(self) -> str:
        return f"ClariClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ClariClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- endpoints -------------------------------------------------------------------------

    def queue_export(self, forecast_id: str, *, time_period: str | None = None,
                     types_to_export: Sequence[str] | None = None, include_historical: bool = True,
                     currency: str | None = None, scope_id: str | None = None) -> str:
        """Queue an export (spends quota) and return its jobId."""
        if not isinstance(forecast_id, str) or not forecast_id.strip():
            raise ConfigError("forecast id must be the Forecast Tab's slug, e.g. \"net_arr\"")
        body: dict[str, Any] = {}
        if time_period is not None:
            body["timePeriod"] = check_period(time_period, "time_period")
        if types_to_export is not None:
            types = [types_to_export] if isinstance(types_to_export, str) else list(types_to_export)
            bad = [t for t in types if t not in EXPORT_TYPES]
            if bad or not types:
                raise ConfigError(f"types_to_export must list some of {', '.join(EXPORT_TYPES)}; got {types!r}")
            body["typesToExport"] = types
        body["includeHistorical"] = bool(include_historical)  # always sent: Clari's default is false
        if currency is not None:
            body["currency"] = currency
        if scope_id is not None:
            body["scopeId"] = scope_id
        what = f"queue an export of forecast {forecast_id!r}"
        resp = self._request("POST", f"export/forecast/{quote(forecast_id, safe='')}", what,
                             json=body, spends_quota=True, forecast=forecast_id)
        job_id = _job_id_of(self._body(resp))
        if not job_id:
            raise OutcomeUnknownError(
                f"Clari accepted the request to {what} but sent no jobId, so an export may have been "
                "queued; check the job list (GET /export/jobs) before queueing again.", status=resp.status_code)
        check_job_id(job_id)
        log.info("queued export of %s as job %s", forecast_id, job_id)
        return job_id

    def get_job(self, job_id: str) -> Job:
        check_job_id(job_id)
        what = f"read export job {job_id}"
        resp = self._request("GET", self._job_path(job_id), what, job=job_id)
        job = _job_from(self._json(resp, what))
        if job is None:
            raise self._unexpected(what)
        return job

    def wait_for_job(self, job_id: str, on_status: Callable[[Job], None] | None = None) -> Job:
        """Poll until the job is DONE; cancel it (freeing its slot) if it outlives the deadline.

        Any status but DONE and the terminal three failures means the job is still running.
        """
        deadline = self._clock() + self.poll_deadline
        seen: set[str] = set()
        while True:
            job = self.get_job(job_id)
            if job.status not in seen:
                seen.add(job.status)
                unknown = "" if job.status in JOB_STATES else UNDOCUMENTED_STATUS
                log.info("export job %s is %s%s", job.job_id, job.status, unknown)
            if on_status is not None:
                on_status(job)
            if job.status == "DONE":
                return job
            if job.terminal:
                raise JobFailedError(self._failed_message(job), job)
            remaining = deadline - self._clock()
            if remaining <= 0:
                return self._give_up(job)
            self._sleep(min(self.poll_interval, remaining))

    def download_results(self, job_id: str, dest: Path) -> int:
        """Stream the result document to `dest` (via `dest.part`, never whole in memory); return its size."""
        check_job_id(job_id)
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._request("GET", self._job_path(job_id) + "/results",
                          f"download the results of export job {job_id}", save_to=part, job=job_id)
            written = part.stat().st_size
            os.replace(part, dest)  # atomic: readers see the old file or the whole new one
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        log.info("downloaded %d bytes of job %s to %s", written, job_id, dest)
        return written

    def cancel_job(self, job_id: str) -> str:
        check_job_id(job_id)
        what = f"cancel export job {job_id}"
        resp = self._request("PATCH", self._job_path(job_id), what, json={"type": "CANCEL"}, job=job_id)
        status = _text(self._json(resp, what).get("status")).upper()
        if not status:
            raise self._unexpected(what)
        log.info("cancelled job %s: %s", job_id, status)
        return status

    def limits(self) -> Limits:
        what = "read the export limits"
        data = self._json(self._request("GET", "admin/limits", what), what)
        jobs = data.get("jobs") if isinstance(data.get("jobs"), dict) else data

        return Limits(
            concurrent_limit=_int(jobs.get("concurrentLimit")),
            monthly_quota=_int(jobs.get("monthlyQuota")),
            available_concurrent=_int(jobs.get("availableConcurrentLimit")),
            available_monthly=_int(jobs.get("availableMonthlyQuota")),
        )

    # ---- transport, retries, errors ---------------------------------------------------------

    def _request(self, method: str, path: str, what: str, *, json: Any = None, spends_quota: bool = False,
                 save_to: Path | None = None, **context: str) -> httpx.Response:
        """One API call with retries; with `save_to`, a successful body is streamed into that file."""
        attempt = 0
        while True:
            failure: BaseException | None = None
            try:
                with self._http.stream(method, path, json=json) as resp:
                    log.debug("%s /%s -> %d (attempt %d)", method, path, resp.status_code, attempt + 1)
                    if resp.is_success and save_to is not None:
                        self._save(resp, save_to)
                    else:
                        resp.read()
            except (httpx.TransportError, _ShortBody) as exc:
                if spends_quota and not isinstance(exc, NOTHING_SENT):
                    log.warning("%s /%s: connection broke after sending (%s); not retrying",
                                method, path, type(exc).__name__)
                    raise OutcomeUnknownError(
                        f"The connection to Clari broke after the request to {what} was sent "
                        f"({self._describe(exc)}), so the export may have been queued; not retrying to save "
                        "quota. Check the job list (GET /export/jobs) before queueing again.") from None
                failure, resp = exc, None
            except httpx.HTTPError as exc:  # e.g. a body that does not decode: Clari did answer
                cls = OutcomeUnknownError if spends_quota else ClariError
                raise cls(f"Clari's answer to the request to {what} could not be read ({self._describe(exc)}); "
                          "try again, and check any proxy between here and Clari.") from None
            if resp is not None and resp.is_success:
                return resp
            self._pause(method, path, what, attempt, response=resp, failure=failure, **context)
            attempt += 1

    @staticmethod
    def _save(resp: httpx.Response, part: Path) -> None:
        expected = _int(resp.headers.get("content-length"))
        written = 0
        with open(part, "wb") as fh:
            for chunk in resp.iter_bytes(CHUNK):
                fh.write(chunk)
                written += len(chunk)
            # Content-Length counts bytes on the wire (num_bytes_downloaded), before any decoding;
            # a body httpx already holds in memory never went through that counter.
            received = max(written, resp.num_bytes_downloaded)
            if expected is not None and received < expected:
                raise _ShortBody(f"got {received} of {expected} bytes")
            fh.flush()
            os.fsync(fh.fileno())  # the rename that follows must never publish a half-written file

    def _pause(self, method: str, path: str, what: str, attempt: int, *,
               response: httpx.Response | None = None, failure: BaseException | None = None,
               **context: str) -> None:
        """Sleep before the next attempt, or raise the error that ends the call."""
        if response is not None and response.status_code not in RETRY_STATUSES:
            raise self._error_for(response, what, **context)
        if not self.retry.may_retry(attempt + 1):
            if response is not None:
                raise self._error_for(response, what, tries=attempt + 1, **context)
            raise NetworkError(
                f"No complete answer from Clari at {self.base_url} to {what} after {attempt + 1} attempts "
                f"({self._describe(failure)}); check the network, proxy and [clari] base_url, then try again.")
        wait = self._retry_after(response, what) if response is not None else None
        if wait is None:
            wait = self.retry.delay(attempt + 1, self._rng)
        reason = response.status_code if response is not None else type(failure).__name__
        log.warning("%s /%s -> %s; retry %d/%d in %.1fs", method, path, reason, attempt + 1,
                    self.retry.max_attempts - 1, wait)
        self._sleep(wait)

    def _retry_after(self, resp: httpx.Response, what: str) -> float | None:
        value = resp.headers.get("retry-after", "").strip()
        if not value:
            return None
        if value.isdigit():
            wait = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            # Measured against the server's own Date header when it sends one, so a skewed
            # local clock does not stretch or cut the wait.
            try:
                now = email.utils.parsedate_to_datetime(resp.headers["date"])
            except (KeyError, TypeError, ValueError):
                now = datetime.now(UTC)
            if when.tzinfo is None or now.tzinfo is None:
                return None
            wait = max(0.0, (when - now).total_seconds())
        if wait > self.max_retry_after:
            until = datetime.now(UTC).timestamp() + wait
            stamp = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M UTC")
            cls = RateLimitedError if resp.status_code == 429 else ServerError
            raise cls(f"Clari asked to wait {wait:.0f} s before the next request to {what}, longer than "
                      f"this client waits ({self.max_retry_after:.0f} s); try again after {stamp}.",
                      status=resp.status_code, code=self._body(resp).get("code"))
        return wait

    def _error_for(self, resp: httpx.Response, what: str, *, tries: int = 1, **context: str) -> ClariError:
        status, body = resp.status_code, self._body(resp)
        code = body.get("code") if isinstance(body.get("code"), str) else None
        facts = {"said": self._clean(body.get("message")) or f"HTTP {status}", "what": what, "status": status,
                 "tries": tries, "forecast": context.get("forecast", "?"), "job": context.get("job", "?")}
        if code in BY_CODE:
            cls, text = BY_CODE[code]
        elif status == 401:
            cls, text = AuthError, "Clari rejected the API key ({said}). Check CLARI_API_KEY or [clari] api_key."
        else:
            cls, text = next((c, t) for match, c, t in BY_STATUS if match(status))
        retryable = status in RETRY_STATUSES if cls is ServerError else None
        return cls(text.format(**facts), status=status, code=code, retryable=retryable)

    def _give_up(self, job: Job) -> Job:
        """The deadline passed: cancel so the job stops holding a concurrency slot."""
        try:
            self.cancel_job(job.job_id)
            cancelled = "so it was cancelled to free its slot"
        except CancelFailedError:
            # It finished between the last poll and the cancel: the export is there to use.
            latest = self.get_job(job.job_id)
            if latest.status == "DONE":
                return latest
            job, cancelled = latest, "and it has already stopped"
        except ClariError as exc:
            log.warning("could not cancel job %s after the deadline: %s", job.job_id, exc)
            cancelled = "and cancelling it failed too (cancel it in Clari or let it finish)"
        raise JobDeadlineError(
            f"Clari export job {job.job_id} was still {job.status} after {self.poll_deadline:.0f} s, "
            f"{cancelled}; try again later or raise [clari] poll_deadline_seconds.", job)

    @staticmethod
    def _failed_message(job: Job) -> str:
        how = {"FAILED": "failed in Clari", "CANCELLED": "was cancelled before it ran",
               "ABORTED": "was cancelled while running"}[job.status]
        return (f"Clari export job {job.job_id} {how} ({job.status}); queue the export again, and if it "
                "keeps failing ask your Clari CSM.")

    def _json(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self._unexpected(what)
        return data

    def _unexpected(self, what: str) -> ClariError:
        return ClariError(f"Clari's answer to the request to {what} was not what the Export API v4 sends; "
                          "check that [clari] base_url is https://api.clari.com/v4.")

    @staticmethod
    def _body(resp: httpx.Response) -> dict:
        try:
            data = resp.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _job_path(job_id: str) -> str:
        return f"export/jobs/{quote(str(job_id), safe='')}"

    def _clean(self, text: Any) -> str:
        """Clari's (or a library's) text, made safe to show: one line, capped, never the key."""
        if not text:
            return ""
        text = " ".join(str(text).split()).replace(self._key.reveal(), "********")
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."

    def _describe(self, exc: BaseException | None) -> str:
        detail = self._clean(exc)
        name = type(exc).__name__.lstrip("_")
        return f"{name}: {detail}" if detail else name
