"""Wall-clock and throughput limits: `.venv/bin/python -m bench.limits`.

The pass/fail tests check what happens (an attempt ended by its time-out, a channel stopped by its
deadline, a fault used up, a document streamed in bounded memory), never how long it took: a busy
machine would fail them for no fault of the code. The time bounds those tests used to assert are
measured here instead, each against its limit, on an otherwise idle machine:

- a hanging Slack webhook: two 0.3 s attempts end within 0.6 s + 1 s;
- the notification deadline: ten 0.4 s attempts are cut at the 1 s deadline, within the deadline
  plus the join grace plus 0.5 s;
- the simulator after a delay fault is used up answers within 0.5 s;
- the simulator streams a 10,000-user export (1.12 M entries) at 50,000 entries a second or more.

Prints one line per limit; exits 1 when any is exceeded.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from clari_data.alerting.notify import delivery, render  # noqa: E402
from clari_data.shared.config import NotifySettings, Secret, Settings  # noqa: E402
from clari_data.shared.redact import Scrubber  # noqa: E402


@dataclass(frozen=True)
class Limit:
    name: str
    measured: float
    limit: float
    unit: str
    at_least: bool = False  # a floor (throughput) rather than a ceiling (time)

    @property
    def ok(self) -> bool:
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        verdict = "ok  " if self.ok else "SLOW"
        return f"{verdict} {self.name}: {self.measured:,.2f} {self.unit} ({sign} {self.limit:,.2f})"


class HangingWebhook:
    """A webhook that accepts the request and never answers (until stopped)."""

    def __init__(self) -> None:
        release = self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                release.wait(30)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    result = fn()
    return time.monotonic() - started, result


def slack_settings(url: str, **options) -> Settings:
    return replace(Settings(), notify=replace(NotifySettings(slack_enabled=True, slack_webhook_url=Secret(url)),
                                              **options))


def hanging_webhook() -> list[Limit]:
    hook = HangingWebhook()
    try:
        message = render.sample_message("http://localhost:8501", "Slack")
        timeout = slack_settings(hook.url, timeout_seconds=0.3, max_attempts=2, backoff_seconds=0.0)
        seconds, _ = timed(lambda: delivery.deliver_all(timeout, {"slack": message}, Scrubber.for_settings(timeout)))
        deadline = slack_settings(hook.url, timeout_seconds=0.4, max_attempts=10, backoff_seconds=0.05,
                                  deadline_seconds=1.0)
        cut, _ = timed(lambda: delivery.deliver_all(deadline, {"slack": message}, Scrubber.for_settings(deadline)))
    finally:
        hook.stop()
    return [Limit("hanging webhook, two 0.3 s attempts", seconds, 0.6 + 1.0, "s"),
            Limit("notification deadline 1 s", cut, 1.0 + delivery.JOIN_GRACE_SECONDS + 0.5, "s")]


def simulator_after_delay() -> list[Limit]:
    from clari_data.ingest.demo import DEMO_API_KEY
    from clari_data.ingest.simulator import SimulatorServer, SyntheticOrg

    org = SyntheticOrg(seed=7, users=60, now=datetime(2026, 11, 18, 10, tzinfo=UTC))
    with SimulatorServer(org, api_keys=(DEMO_API_KEY,), job_seconds=0.05).start() as server:
        server.faults.delay(0.6, path=r"^/admin/limits$")
        with httpx.Client(base_url=server.base_url, headers={"apikey": DEMO_API_KEY}, timeout=5) as client:
            client.get("/admin/limits")  # the delayed one
            seconds, _ = timed(lambda: client.get("/admin/limits"))
    return [Limit("simulator answer after a used-up delay fault", seconds, 0.5, "s")]


def simulator_stream() -> list[Limit]:
    from clari_data.ingest.simulator import SyntheticOrg

    class Sink:
        def write(self, data) -> int:
            return len(data)

    types = ("forecast", "quota", "forecast_updated", "adjustment", "crm_total", "crm_closed")
    org = SyntheticOrg(users=10_000, extra_fields=2, now=datetime(2026, 4, 2, 12, tzinfo=UTC))
    seconds, info = timed(lambda: org.write_export(Sink(), "net_arr", "2026_Q1", types, True))
    return [Limit("simulator export stream, 10,000 users", info["entries"] / seconds, 50_000, "entries/s",
                  at_least=True)]


def main() -> int:
    limits = [*hanging_webhook(), *simulator_after_delay(), *simulator_stream()]
    for limit in limits:
        print(limit.line())
    return 0 if all(limit.ok for limit in limits) else 1


if __name__ == "__main__":
    sys.exit(main())
