"""Delivery: bounded attempts per channel, each channel in a worker thread, and what each channel
was sent, kept in the warehouse.

Attempts follow the `[notify]` retry policy (`max_attempts`, `backoff_seconds`, doubling) on
transient failures, and no channel is waited for beyond `[notify] deadline_seconds`. Per channel
the warehouse remembers which keys fire and whether their current firing streak was delivered, so
a key is sent once per streak: not again while it keeps firing, again after it cleared and fired
anew, and again next refresh when its delivery failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from clari_data.shared.config import Settings
from clari_data.shared.redact import Scrubber
from clari_data.shared.retry import RetryPolicy
from clari_data.shared.timeutil import naive_utc
from clari_data.storage.warehouse import Warehouse

from .channels import CHANNELS, SENDERS, DeliveryError
from .findings import Keyed

JOIN_GRACE_SECONDS = 1.0  # after the deadline, how long to wait for a worker to notice it


@dataclass(frozen=True)
class Delivery:
    """What became of one message to one channel."""

    channel: str
    kind: str  # 'alerts' or 'test'
    outcome: str  # 'sent' or 'failed'
    subject: str
    keys: tuple[str, ...] = ()
    attempts: int = 0
    error: str | None = None
    delivery_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


def deliver(settings: Settings, channel: str, message: object, *, scrub: Scrubber, deadline_at: float,
            policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> tuple[int, str | None]:
    """Send with retries under `policy`, never past `deadline_at` (on `clock`).
    Returns (attempts, error or None)."""
    n = settings.notify
    attempts, error = 0, None
    while True:
        remaining = deadline_at - clock()
        if remaining <= 0:
            error = (error or "no attempt was made") + f" (stopped at the {n.deadline_seconds:g} s deadline)"
            break
        attempts += 1
        try:
            SENDERS[channel](settings, message, min(n.timeout_seconds, remaining), scrub)
            return attempts, None
        except DeliveryError as exc:
            error = scrub(exc)
            if not exc.transient:
                break
        except Exception as exc:  # a bug in building or sending: recorded, never raised into the refresh
            error = scrub(f"unexpected {type(exc).__name__}: {exc}")
            break
        if not policy.may_retry(attempts):
            break
        wait = policy.delay(attempts)
        if clock() + wait >= deadline_at:
            error += f" (no time left for another attempt before the {n.deadline_seconds:g} s deadline)"
            break
        sleep(wait)
    if attempts > 1 and error:
        error = f"{error} (after {attempts} attempts)"
    return attempts, error


def deliver_all(settings: Settings, jobs: dict[str, object], scrub: Scrubber, *, max_attempts: int | None = None,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> dict[str, tuple[int, str | None]]:
    """Every channel in its own worker thread; waits no longer than the deadline (plus a grace)."""
    policy = settings.notify.retry_policy()
    if max_attempts is not None:
        policy = replace(policy, max_attempts=max_attempts)
    deadline_at = clock() + settings.notify.deadline_seconds
    waited_until = time.monotonic() + settings.notify.deadline_seconds + JOIN_GRACE_SECONDS
    results: dict[str, tuple[int, str | None]] = {}

    def work(channel: str, message: object) -> None:
        results[channel] = deliver(settings, channel, message, scrub=scrub, deadline_at=deadline_at,
                                   policy=policy, sleep=sleep, clock=clock)

    threads = [threading.Thread(target=work, args=(ch, msg), name=f"clari-notify-{ch}", daemon=True)
               for ch, msg in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, waited_until - time.monotonic()))
    for channel in jobs:
        if channel not in results:  # the worker is still stuck: give up on it, it is a daemon thread
            results[channel] = (1, f"{CHANNELS[channel]} did not finish within the "
                                   f"{settings.notify.deadline_seconds:g} s deadline; the message may or may not "
                                   "arrive, and is sent again next refresh")
    return results


# -- what each channel was sent ----------------------------------------------------------------


def undelivered(wh: Warehouse, channel: str, keyed: Keyed, now: datetime) -> set[str]:
    """Records what fires now for a channel; returns the keys among them not delivered yet."""
    rules_by_key = {key: finding.alert.rule for key, (finding, _) in keyed.items()}
    return wh.notification_firing(channel, rules_by_key, naive_utc(now))


def record(wh: Warehouse, *, run_id: int | None, channel: str, kind: str, keys: tuple[str, ...], subject: str,
           started_at: datetime, attempts: int, error: str | None) -> Delivery:
    """One delivery row (and for delivered alerts, their streaks marked sent) and what it says."""
    delivery_id = wh.record_delivery(run_id=run_id, channel=channel, kind=kind, keys=keys, subject=subject,
                                     started_at=naive_utc(started_at), attempts=attempts, error=error)
    return Delivery(channel, kind, "failed" if error else "sent", subject, keys, attempts, error, delivery_id)
