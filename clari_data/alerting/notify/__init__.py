"""Notifications: after a refresh, the alert rules that newly fire go to Slack and e-mail.

Whoever ran the refresh (the scheduler's job, the command line) calls `after_refresh` with its
result. Each channel gets at most one message per refresh, grouping what is new to it. Nothing here
raises into the caller, and no credential or webhook URL reaches an error, a log line or a stored
row. One module per job:

- `findings`: what fires, evaluated by `alerts.py` as the banners are, each firing item keyed;
- `render`: the message, as Slack and e-mail text, with links made from the page registry;
- `channels`: the Slack webhook and SMTP senders, one attempt each;
- `delivery`: retries, worker threads and the deadline, and what each channel was sent.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from clari_data.shared import access
from clari_data.shared.config import Settings
from clari_data.shared.redact import Scrubber
from clari_data.shared.timeutil import naive_utc, utc_now
from clari_data.storage.warehouse import Warehouse

from . import render
from .channels import CHANNELS, email_message
from .delivery import Delivery, deliver_all, record, undelivered
from .findings import evaluate, keyed

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

NOTIFYING = "notifying"  # the progress stage shown while the notifications go out
# Between two test messages to one channel: the button must not become a way to flood a Slack
# channel or a mailbox.
TEST_COOLDOWN_SECONDS = 60.0
_test_lock = threading.Lock()
_last_test: dict[tuple[str, str], datetime] = {}  # (warehouse, channel) -> when the last test was asked


class FinishedRun(Protocol):
    """What notifying reads of a refresh's result."""

    run_id: int


def notify(settings: Settings, wh: Warehouse, run_id: int | None = None, *, now: datetime | None = None,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
           ) -> tuple[Delivery, ...]:
    """Evaluate the rules and send each enabled channel one message with what is new to it."""
    channels = settings.notify.channels()
    if not channels:
        return ()
    now = now or utc_now()
    scrub = Scrubber.for_settings(settings)
    findings = evaluate(wh, settings, now)
    base = settings.notify.public_base_url
    jobs: dict[str, render.Message] = {}
    for channel in channels:
        firing = keyed(findings, settings.notify.rules_for(channel))
        new = undelivered(wh, channel, firing, now)
        if new:
            jobs[channel] = render.build_message(firing, new, base, run_id)
    if not jobs:
        log.info("notifications: nothing new to send")
        return ()
    started = utc_now()
    results = deliver_all(settings, jobs, scrub, sleep=sleep, clock=clock)
    out = []
    for channel, message in jobs.items():
        attempts, error = results[channel]
        out.append(record(wh, run_id=run_id, channel=channel, kind="alerts", keys=message.keys,
                          subject=message.subject, started_at=started, attempts=attempts, error=error))
        if error:
            log.warning("notification to %s failed: %s", CHANNELS[channel], error)
        else:
            log.info("notified %s of %d new alert(s)", CHANNELS[channel], len(message.keys))
    return tuple(out)


def after_refresh(settings: Settings, wh: Warehouse, result: FinishedRun,
                  progress: Callable[[str, str], None] | None = None, **kwargs) -> tuple[Delivery, ...]:
    """Sends the notifications a finished refresh calls for. `progress(stage, message)` hears when
    they start. Never raises: a failing channel or a bug here is logged and recorded, and the
    refresh's own outcome stands."""
    if not settings.notify.channels():
        return ()
    try:
        if progress is not None:
            progress(NOTIFYING, "sending notifications of new alerts")
        return notify(settings, wh, result.run_id, **kwargs)
    except Exception:
        scrub = Scrubber.for_settings(settings)
        log.error("notifications after run %s failed: %s", result.run_id, scrub(traceback.format_exc()))
        return ()


def send_test(settings: Settings, wh: Warehouse, channel: str, *, sign_in: bool = False,
              requested_by: str | None = None, now: datetime | None = None) -> Delivery:
    """A test message to one channel, for the /data button: one attempt, recorded in the history.

    Allowed to whoever may press "Refresh now" (`access.may_refresh`), at most once per
    TEST_COOLDOWN_SECONDS per channel; a refused request sends and records nothing."""
    name = CHANNELS.get(channel, channel)
    if channel not in settings.notify.channels():
        return Delivery(channel, "test", "failed", "", error=f"{name} is not enabled in [notify]")
    decision = access.may_refresh(settings, sign_in=sign_in, email=requested_by)
    if not decision.allowed:
        return Delivery(channel, "test", "failed", "", error=f"Only those who may refresh may send a test message. "
                                                              f"{decision.reason}")
    wait = _claim_test_slot(wh, channel, now or utc_now())
    if wait > 0:
        return Delivery(channel, "test", "failed", "", error=f"A test message went to {name} moments ago; the next "
                                                              f"is allowed in {wait:.0f} s.")
    scrub = Scrubber.for_settings(settings)
    base = settings.notify.public_base_url
    subject = render.TEST_SUBJECT
    message = (email_message(settings, subject, render.sample_text(base, CHANNELS[channel]) + "\n")
               if channel == "email" else render.sample_message(base, CHANNELS[channel]))
    started = utc_now()
    try:
        attempts, error = deliver_all(settings, {channel: message}, scrub, max_attempts=1)[channel]
    except Exception as exc:
        attempts, error = 1, scrub(f"unexpected {type(exc).__name__}: {exc}")
    try:
        return record(wh, run_id=None, channel=channel, kind="test", keys=(), subject=subject, started_at=started,
                      attempts=attempts, error=error)
    except Exception as exc:  # the message went (or not); the history could not say so
        log.warning("could not record the test message: %s", scrub(exc))
        return Delivery(channel, "test", "failed" if error else "sent", subject, (), attempts, error)


def _claim_test_slot(wh: Warehouse, channel: str, now: datetime) -> float:
    """Seconds until a test to `channel` is allowed (0: allowed, and the slot is taken now). The last
    test is remembered in this process and read from the delivery history (which outlives it)."""
    with _test_lock:
        key = (wh.backend.key, channel)
        last = [_last_test[key]] if key in _last_test else []
        earlier = wh.notification_history(100)
        tests = earlier[(earlier["channel"] == channel) & (earlier["kind"] == "test")]
        if not tests.empty:
            last.append(tests["started_at"].max().to_pydatetime())
        moment = naive_utc(now)
        ready = max((naive_utc(t) for t in last), default=None)
        if ready is not None:
            wait = (ready + timedelta(seconds=TEST_COOLDOWN_SECONDS) - moment).total_seconds()
            if wait > 0:
                return wait
        _last_test[key] = moment
        return 0.0


def history(wh: Warehouse, limit: int = 100, cur=None) -> pd.DataFrame:
    """The latest deliveries, newest first."""
    return wh.notification_history(limit, cur)


def state(wh: Warehouse, channel: str, cur=None) -> pd.DataFrame:
    """What a channel knows: each alert key, firing or cleared, and when its streak was delivered."""
    return wh.notification_state(channel, cur)
