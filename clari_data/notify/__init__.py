"""Notifications: after each refresh, the [alerts] rules that newly fire go to Slack and e-mail.

The rules are evaluated by `alerts.py`, the same code as the page banners: the data-level rules
once, and the threshold rules on the whole org of each configured forecast's newest period. Each
firing item has a stable key (`Alert.keys`); `notification_state` remembers per channel which keys
fire and whether their current firing streak was delivered, so a key is sent once per streak: not
again while it keeps firing, again after it cleared and fired anew, and again next refresh when its
delivery failed. Each channel gets at most one message per refresh, grouping its new items.

Delivery is bounded: attempts with exponential backoff on transient failures (5xx, 429, network
errors, time-outs, SMTP 4xx), each channel in a worker thread, and the refresh waits for all of them
no longer than `[notify] deadline_seconds`. Every message is recorded in `notification_deliveries`
(shown on /data). Nothing here raises into the refresh, and no credential or webhook URL reaches an
error, a log line or a stored row.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlencode, urlsplit

import httpx
import pandas as pd

from . import alerts, analytics
from .alerts import Alert, AlertItem
from .analytics import Selection
from .config import Settings
from .warehouse import Warehouse, query_sql

if TYPE_CHECKING:
    from .refresh import Progress, RefreshResult

log = logging.getLogger(__name__)

CHANNELS = {"slack": "Slack", "email": "E-mail"}
OPERATIONAL_SCOPE = "dashboard"  # the scope of the rules about the data's state rather than its numbers
PAGE_OF_RULE = {"coverage": "coverage", "accuracy": "accuracy", "change": "changes", "stale": "data",
                "refresh_failed": "data", "export_problem": "data"}
PAGE_TITLES = {"coverage": "Pipeline coverage", "accuracy": "Forecast accuracy", "changes": "Recent changes",
               "data": "Data & refresh"}
ITEMS_PER_ALERT = {"slack": 20, "email": 200}  # the rest is "and N more" with the page's link
JOIN_GRACE_SECONDS = 1.0  # after the deadline, how long to wait for a worker to notice it


# -- what is sent ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewItem:
    key: str
    text: str  # plain text from the data: "Rex Rep (team Mia Manager): 1.20x"
    url: str


@dataclass(frozen=True)
class Section:
    """One firing alert of one scope, with the items of it that are new to the channel."""

    rule: str
    severity: str
    title: str  # plain text naming the rule, threshold, forecast and period
    url: str  # the page with the filters that show it
    page_title: str
    items: tuple[NewItem, ...] = ()
    detail: str = ""  # the alert's own text, for rules without items (stale data, a failed refresh)
    still_firing: int = 0  # items of this alert already notified earlier that still fire
    keys: tuple[str, ...] = ()  # the new keys this section carries


@dataclass(frozen=True)
class Message:
    subject: str
    sections: tuple[Section, ...]
    keys: tuple[str, ...]
    footer: str = ""


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


class DeliveryError(Exception):
    """A channel did not take a message. `transient`: worth another attempt."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


# -- secrets never leave ---------------------------------------------------------------------------


class _Scrubber:
    """Replaces the webhook URL (and its token path) and the SMTP login in any text."""

    def __init__(self, settings: Settings) -> None:
        n = settings.notify
        values = {s.reveal() for s in (n.slack_webhook_url, n.smtp_username, n.smtp_password) if s}
        if n.slack_webhook_url:  # and the parts of the URL that carry its token, should text quote them
            url = n.slack_webhook_url.reveal()
            parts = urlsplit(url)
            fragments = {url.rstrip("/"), parts.path, parts.path.rstrip("/").rsplit("/", 1)[-1], parts.query}
            values |= {f for f in fragments if len(f) >= 6}  # "/" alone would mangle every text
        # Longest first, so a URL goes whole before its path.
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        text = str(text)
        for value in self._values:
            text = text.replace(value, "********")
        return text

    @property
    def values(self) -> list[str]:
        return list(self._values)


class _RedactingFilter(logging.Filter):
    """On httpx's loggers: its INFO line names the request URL, which for a webhook is the secret."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add(self, scrub: _Scrubber) -> None:
        with self._lock:
            self._secrets.update(scrub.values)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if secrets:
            text = record.getMessage()
            if any(s in text for s in secrets):
                for s in secrets:
                    text = text.replace(s, "********")
                record.msg, record.args = text, ()
        return True


_log_filter = _RedactingFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_log_filter)


# -- evaluating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    alert: Alert
    scope: str
    forecast_id: str | None = None
    period: str | None = None  # the period its page shows (the ended one for accuracy)
    people: pd.DataFrame | None = field(default=None, compare=False)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def evaluate(wh: Warehouse, settings: Settings, now: datetime | None = None) -> list[_Finding]:
    """Every firing rule as the banners would show it: the data-level rules once, and the threshold
    rules for each configured forecast's newest period over the whole org."""
    now = now or _now()
    with wh.snapshot() as cur:
        found = [_Finding(a, OPERATIONAL_SCOPE) for a in alerts.evaluate(wh, settings, None, now, cur)]
        known = set(analytics.forecasts(wh, cur))
        for forecast_id in settings.clari.forecast_ids:
            if forecast_id not in known:
                continue
            periods = analytics.periods(wh, forecast_id, cur)
            if periods.empty:
                continue
            sel = Selection(forecast_id, str(periods["time_period"].iloc[0]))
            people = {sel.time_period: analytics.people(wh, forecast_id, sel.time_period, cur)}
            for alert in alerts.data_alerts(wh, settings.alerts, settings.fields, sel, cur):
                shown = sel.time_period
                if alert.rule == "accuracy":
                    shown = alerts.accuracy_period(wh, sel, cur) or shown
                    if shown not in people:
                        people[shown] = analytics.people(wh, forecast_id, shown, cur)
                found.append(_Finding(alert, f"{forecast_id}/{sel.time_period}", forecast_id, shown,
                                      people[shown]))
    return found


def _keyed(findings: list[_Finding], rules: tuple[str, ...]) -> dict[str, tuple[_Finding, AlertItem | None]]:
    """Each firing key of the chosen rules with its alert and item, in the alerts' order."""
    out: dict[str, tuple[_Finding, AlertItem | None]] = {}
    for f in findings:
        if f.alert.rule not in rules:
            continue
        keys = f.alert.keys(f.scope)
        items: list[AlertItem | None] = list(f.alert.items) or [None]
        for key, item in zip(keys, items):
            out.setdefault(key, (f, item))
    return out


# -- links and text ------------------------------------------------------------------------------


def page_url(base: str, page: str, params: list[tuple[str, str]] | None = None) -> str:
    """A dashboard address with the public filter parameters (forecast, period, team, rep...)."""
    path = "" if page == "overview" else page
    query = urlencode(params or [])
    return f"{base.rstrip('/')}/{path}" + (f"?{query}" if query else "")


def _person_params(people: pd.DataFrame | None, user_id: str) -> list[tuple[str, str]]:
    """Filters that show one person: their manager's team, and for a rep the rep themself."""
    if people is None or people.empty:
        return []
    rows = people[people["user_id"] == user_id]
    if rows.empty:
        return []
    row = rows.iloc[0]
    managers = set(people.loc[people["is_manager"], "user_id"])
    boss = row["manager_user_id"] if isinstance(row["manager_user_id"], str) else None
    params = [("team", boss)] if boss in managers else []
    if not bool(row["is_manager"]):
        params.append(("rep", user_id))
    return params


def _manager_name(people: pd.DataFrame | None, user_id: str) -> str | None:
    if people is None or people.empty:
        return None
    rows = people[people["user_id"] == user_id]
    if rows.empty or not isinstance(rows.iloc[0]["manager_user_id"], str):
        return None
    boss = people[people["user_id"] == rows.iloc[0]["manager_user_id"]]
    name = boss.iloc[0]["user_name"] if not boss.empty else None
    return name if isinstance(name, str) and name else None


SUBJECT_LABELS = {"stale": "stale data", "refresh_failed": "refresh failed", "export_problem": "export problem"}


def _title(f: _Finding) -> str:
    a = f.alert
    where = f"{f.forecast_id} {f.period}" if f.forecast_id else ""
    return {
        "coverage": f"Pipeline coverage below {a.threshold} in {where}",
        "accuracy": f"Forecast accuracy below {a.threshold} in {where}",
        "change": f"Calls moved by at least {a.threshold} since the previous export of {where}",
        "stale": "The data is stale",
        "refresh_failed": "A refresh failed",
        "export_problem": "An export came back empty or truncated",
    }.get(a.rule, a.rule)


def _section(f: _Finding, new: list[tuple[str, AlertItem | None]], still: int, base: str) -> Section:
    page = PAGE_OF_RULE.get(f.alert.rule, "data")
    scope_params = [("forecast", f.forecast_id), ("period", f.period)] if f.forecast_id else []
    items = []
    for key, item in new:
        if item is None:
            continue
        if f.forecast_id:  # a person: user id, or user/field for a moved call
            user_id = item.subject_id.split("/", 1)[0]
            boss = _manager_name(f.people, user_id)
            text = f"{item.subject}{f' (in {boss}’s team)' if boss else ''}: {item.value}"
            url = page_url(base, page, scope_params + _person_params(f.people, user_id))
        else:
            text = f"{item.subject}: {item.value}"
            url = page_url(base, page)
        items.append(NewItem(key, text, url))
    return Section(f.alert.rule, f.alert.severity, _title(f), page_url(base, page, scope_params), PAGE_TITLES[page],
                   tuple(items), "" if f.alert.items else f.alert.message, still, tuple(k for k, _ in new))


def build_message(keyed: dict[str, tuple[_Finding, AlertItem | None]], new_keys: set[str], base: str,
                  run_id: int | None = None) -> Message:
    """One message grouping the new keys by alert, in the alerts' order."""
    groups: dict[int, tuple[_Finding, list[tuple[str, AlertItem | None]], list[str]]] = {}
    for key, (f, item) in keyed.items():
        _, new, old = groups.setdefault(id(f), (f, [], []))
        if key in new_keys:
            new.append((key, item))
        else:
            old.append(key)
    sections, labels = [], []
    for f, new, old in groups.values():
        if not new:
            continue
        sections.append(_section(f, new, len(old), base))
        label = f"{f.forecast_id} {f.period}" if f.forecast_id else SUBJECT_LABELS.get(f.alert.rule, f.alert.rule)
        if label not in labels:
            labels.append(label)
    keys = tuple(k for s in sections for k in s.keys)
    n = len(keys)
    subject = f"[Clari forecast] {n} new alert{'s' if n != 1 else ''}: {', '.join(labels)}"
    footer = (f"Sent by the Clari forecast dashboard{f' after refresh run {run_id}' if run_id else ''}. "
              f"Data & refresh: {page_url(base, 'data')}")
    return Message(subject if len(subject) <= 200 else subject[:199] + "…", tuple(sections), keys, footer)


def slack_escape(text: str) -> str:
    """Plain text for Slack's mrkdwn: only &, < and > are special (names are data, never markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    return f"<{slack_escape(url)}|{slack_escape(label)}>"


def slack_text(message: Message) -> str:
    cap = ITEMS_PER_ALERT["slack"]
    headline = message.subject.removeprefix("[Clari forecast] ")
    lines = [f"*{slack_escape(headline[:1].upper() + headline[1:])}*"]
    for s in message.sections:
        icon = ":rotating_light:" if s.severity == "error" else ":warning:"
        lines.append("")
        lines.append(f"{icon} *{slack_escape(s.title)}* · {_slack_link(s.url, s.page_title)}")
        if s.detail:
            lines.append(slack_escape(s.detail))
        for item in s.items[:cap]:
            lines.append(f"• {_slack_link(item.url, item.text)}")
        if len(s.items) > cap:
            lines.append(f"• and {len(s.items) - cap} more: {_slack_link(s.url, 'see them all')}")
        if s.still_firing:
            lines.append(f"_({s.still_firing} more still firing, notified before)_")
    lines += ["", f"_{slack_escape(message.footer)}_"] if message.footer else []
    return "\n".join(lines)


def email_text(message: Message) -> str:
    cap = ITEMS_PER_ALERT["email"]
    n = len(message.keys)
    lines = [f"{n} new alert{'s' if n != 1 else ''} from the Clari forecast dashboard."]
    for s in message.sections:
        lines += ["", f"{'ERROR' if s.severity == 'error' else 'WARNING'}: {s.title}", f"  {s.page_title}: {s.url}"]
        if s.detail:
            lines.append(f"  {s.detail}")
        for item in s.items[:cap]:
            lines += [f"  - {item.text}", f"    {item.url}"]
        if len(s.items) > cap:
            lines.append(f"  - and {len(s.items) - cap} more: {s.url}")
        if s.still_firing:
            lines.append(f"  ({s.still_firing} more still firing, notified before)")
    lines += ["", "-- ", message.footer] if message.footer else []
    return "\n".join(lines) + "\n"


# -- channels ------------------------------------------------------------------------------------


def _send_slack(settings: Settings, message: Message, timeout: float, scrub: _Scrubber) -> None:
    url = settings.notify.slack_webhook_url.reveal()
    _log_filter.add(scrub)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            resp = client.post(url, json={"text": slack_text(message), "unfurl_links": False,
                                          "unfurl_media": False})
    except httpx.TimeoutException:
        raise DeliveryError(f"the Slack webhook did not answer within {timeout:g} s", True) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"could not reach the Slack webhook: {scrub(exc) or type(exc).__name__}", True) from None
    if 200 <= resp.status_code < 300:
        return
    body = scrub(resp.text.strip()[:200]) or "(no body)"
    transient = resp.status_code >= 500 or resp.status_code in (408, 429)
    raise DeliveryError(f"the Slack webhook answered HTTP {resp.status_code}: {body}", transient)


def _email(settings: Settings, subject: str, text: str) -> EmailMessage:
    n = settings.notify
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = n.email_from
    msg["To"] = ", ".join(n.email_to)
    msg["Date"] = format_datetime(_now())
    msg["Message-ID"] = make_msgid(domain=(n.email_from or "localhost").rsplit("@", 1)[-1])
    msg.set_content(text)  # text/plain, UTF-8: names from Clari are never markup
    return msg


def _smtp_reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"[:200]


def _send_email(settings: Settings, message: Message | EmailMessage, timeout: float, scrub: _Scrubber) -> None:
    n = settings.notify
    msg = message if isinstance(message, EmailMessage) else _email(settings, message.subject, email_text(message))
    where = f"{n.smtp_host}:{n.smtp_port}"
    try:
        with smtplib.SMTP(n.smtp_host, n.smtp_port, timeout=timeout) as smtp:
            if n.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if n.smtp_username and n.smtp_password:
                smtp.login(n.smtp_username.reveal(), n.smtp_password.reveal())
            refused = smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"the SMTP server {where} refused the login: "
                            f"{scrub(_smtp_reply(exc.smtp_code, exc.smtp_error))}", False) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"the SMTP server {where} cannot do what the settings ask: {scrub(exc)} "
                            "(check [notify] smtp_starttls and the login)", False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        replies = "; ".join(f"{rcpt}: {_smtp_reply(code, reply)}" for rcpt, (code, reply) in exc.recipients.items())
        raise DeliveryError(f"the SMTP server {where} refused every recipient ({scrub(replies)})",
                            any(400 <= c < 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"the SMTP server {where} refused the message: "
                            f"{scrub(_smtp_reply(exc.smtp_code, exc.smtp_error))}",
                            400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryError(f"the SMTP server {where} closed the connection: {scrub(exc) or 'no reason given'}",
                            True) from None
    except (TimeoutError, ssl.SSLError, OSError, smtplib.SMTPException) as exc:
        if isinstance(exc, TimeoutError) or "timed out" in str(exc):
            raise DeliveryError(f"the SMTP server {where} did not answer within {timeout:g} s", True) from None
        if isinstance(exc, ssl.SSLError):
            raise DeliveryError(f"STARTTLS with the SMTP server {where} failed: {scrub(exc)}", False) from None
        raise DeliveryError(f"could not reach the SMTP server {where}: {scrub(exc) or type(exc).__name__}",
                            True) from None
    if refused:
        log.warning("the SMTP server %s refused some recipients: %s", where, scrub(", ".join(refused)))


SENDERS: dict[str, Callable[..., None]] = {"slack": _send_slack, "email": _send_email}


def deliver(settings: Settings, channel: str, message, *, scrub: _Scrubber, deadline_at: float,
            max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> tuple[int, str | None]:
    """Send with retries and exponential backoff, never past `deadline_at` (on `clock`).
    Returns (attempts, error or None)."""
    n = settings.notify
    limit = max_attempts or n.max_attempts
    attempts, error = 0, None
    while attempts < limit:
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
        if attempts < limit:
            wait = n.backoff_seconds * 2 ** (attempts - 1)
            if clock() + wait >= deadline_at:
                error += f" (no time left for another attempt before the {n.deadline_seconds:g} s deadline)"
                break
            sleep(wait)
    if attempts > 1 and error:
        error = f"{error} (after {attempts} attempts)"
    return attempts, error


def _deliver_all(settings: Settings, jobs: dict[str, object], scrub: _Scrubber, *,
                 max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, tuple[int, str | None]]:
    """Every channel in its own worker thread; waits no longer than the deadline (plus a grace)."""
    deadline_at = clock() + settings.notify.deadline_seconds
    waited_until = time.monotonic() + settings.notify.deadline_seconds + JOIN_GRACE_SECONDS
    results: dict[str, tuple[int, str | None]] = {}

    def work(channel: str, message: object) -> None:
        results[channel] = deliver(settings, channel, message, scrub=scrub, deadline_at=deadline_at,
                                   max_attempts=max_attempts, sleep=sleep, clock=clock)

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


# -- recording -----------------------------------------------------------------------------------


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


# Serialises this module's writes (a refresh's notifications and test messages from page sessions):
# delivery ids are max + 1, and one process writes a warehouse file.
_write_lock = threading.Lock()


def _record(wh: Warehouse, run_id: int | None, channel: str, kind: str, keys: tuple[str, ...], subject: str,
            started: datetime, attempts: int, error: str | None) -> int:
    """One delivery row, and for delivered alerts the state it implies, in one transaction."""
    finished = _naive(_now())
    with _write_lock:
        cur = wh.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                row = cur.execute(query_sql("notification_record"), {
                    "run_id": run_id, "channel": channel, "kind": kind, "rule_keys": list(keys), "subject": subject,
                    "started_at": _naive(started), "sent_at": None if error else finished,
                    "outcome": "failed" if error else "sent", "attempts": attempts, "error": error,
                }).fetchone()
                if not error and kind == "alerts" and keys:
                    cur.execute(query_sql("notification_mark_sent"),
                                {"channel": channel, "keys": list(keys), "now": finished})
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            return int(row[0])
        finally:
            cur.close()


def _pending(wh: Warehouse, channel: str, keyed: dict, now: datetime) -> set[str]:
    """Record what fires now for a channel (new streaks, cleared keys); returns the undelivered keys."""
    keys = list(keyed)
    rules = [f.alert.rule for f, _ in keyed.values()]
    params = {"channel": channel, "now": _naive(now)}
    with _write_lock:
        cur = wh.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                if keys:
                    cur.execute(query_sql("notification_fire"), {**params, "keys": keys, "rules": rules})
                cur.execute(query_sql("notification_clear"), {**params, "keys": keys})
                pending = {row[0] for row in
                           cur.execute(query_sql("notification_pending"), {"channel": channel}).fetchall()}
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()
    return pending & set(keys)


# -- entry points --------------------------------------------------------------------------------


def notify(settings: Settings, wh: Warehouse, run_id: int | None = None, *, now: datetime | None = None,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
           ) -> tuple[Delivery, ...]:
    """Evaluate the rules and send each enabled channel one message with what is new to it."""
    channels = settings.notify.channels()
    if not channels:
        return ()
    now = now or _now()
    scrub = _Scrubber(settings)
    findings = evaluate(wh, settings, now)
    base = settings.notify.public_base_url
    jobs: dict[str, Message] = {}
    for channel in channels:
        keyed = _keyed(findings, settings.notify.rules_for(channel))
        new = _pending(wh, channel, keyed, now)
        if new:
            jobs[channel] = build_message(keyed, new, base, run_id)
    if not jobs:
        log.info("notifications: nothing new to send")
        return ()
    started = _now()
    results = _deliver_all(settings, jobs, scrub, sleep=sleep, clock=clock)
    out = []
    for channel, message in jobs.items():
        attempts, error = results[channel]
        delivery_id = _record(wh, run_id, channel, "alerts", message.keys, message.subject, started, attempts, error)
        if error:
            log.warning("notification to %s failed: %s", CHANNELS[channel], error)
        else:
            log.info("notified %s of %d new alert(s)", CHANNELS[channel], len(message.keys))
        out.append(Delivery(channel, "alerts", "failed" if error else "sent", message.subject, message.keys,
                            attempts, error, delivery_id))
    return tuple(out)


def after_refresh(settings: Settings, wh: Warehouse, result: "RefreshResult",
                  progress: Callable[["Progress"], None] | None = None, **kwargs) -> tuple[Delivery, ...]:
    """The refresh's last step. Never raises: a failing channel or a bug here is logged and recorded,
    and the refresh's own outcome stands."""
    if not settings.notify.channels():
        return ()
    try:
        if progress is not None:
            from .refresh import Progress

            progress(Progress("notifying", "sending notifications of new alerts"))
        return notify(settings, wh, result.run_id, **kwargs)
    except Exception:
        scrub = _Scrubber(settings)
        log.error("notifications after run %s failed: %s", result.run_id, scrub(traceback.format_exc()))
        return ()


def send_test(settings: Settings, wh: Warehouse, channel: str) -> Delivery:
    """A test message to one channel, for the /data button: one attempt, recorded in the history."""
    if channel not in settings.notify.channels():
        return Delivery(channel, "test", "failed", "", error=f"{CHANNELS.get(channel, channel)} is not enabled in [notify]")
    scrub = _Scrubber(settings)
    base = settings.notify.public_base_url
    subject = "[Clari forecast] Test message"
    text = (f"This is a test message from the Clari forecast dashboard ({page_url(base, 'data')}). "
            f"If you read it, {CHANNELS[channel]} notifications work: alerts that newly fire after a refresh "
            "arrive here.")
    message = (_email(settings, subject, text + "\n") if channel == "email"
               else Message(subject, (Section("test", "warning", "Test message", page_url(base, "data"),
                                              PAGE_TITLES["data"], detail=text),), ()))
    started = _now()
    try:
        attempts, error = _deliver_all(settings, {channel: message}, scrub, max_attempts=1)[channel]
    except Exception as exc:
        attempts, error = 1, scrub(f"unexpected {type(exc).__name__}: {exc}")
    delivery_id = None
    try:
        delivery_id = _record(wh, None, channel, "test", (), subject, started, attempts, error)
    except Exception as exc:  # the message went (or not); the history could not say so
        log.warning("could not record the test message: %s", scrub(exc))
    return Delivery(channel, "test", "failed" if error else "sent", subject, (), attempts, error, delivery_id)


def history(wh: Warehouse, limit: int = 100, cur=None) -> pd.DataFrame:
    """The latest deliveries, newest first."""
    return wh.query("notification_history", cur, limit=limit)


def state(wh: Warehouse, channel: str, cur=None) -> pd.DataFrame:
    """What a channel knows: each alert key, firing or cleared, and when its streak was delivered."""
    return wh.query("notification_state", cur, channel=channel)
