"""Slack and e-mail notifications against real local receivers: an HTTP server on loopback in place
of Slack's incoming webhook, and an aiosmtpd SMTP server on loopback receiving real mail. Refreshes
run the real path (demo simulator or the `simulator` fixture) into real DuckDB files."""

from __future__ import annotations

import email
import json
import logging
import re
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from builders import Export, user
from support import free_port

from clari_data.alerting import notify
from clari_data.alerting.notify import render
from clari_data.ingest.refresh import RefreshResult, run_refresh
from clari_data.read import analytics
from clari_data.shared.config import (
    ALERT_RULES,
    ConfigError,
    NotifySettings,
    Secret,
    Settings,
    _validate,
    load_settings,
)
from clari_data.shared.timeutil import utc_now
from clari_data.storage.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "XOXB-WEBHOOK-TOKEN-5ec4e7"  # the secret part of the webhook URL
PASSWORD = "smtp-PASSWORD-9d8c7b"
USERNAME = "smtp-user-4a3b"
BASE = "https://forecast.example.com/dash"
EVERY_SECRET = (TOKEN, PASSWORD, USERNAME)


# -- receivers -------------------------------------------------------------------------------------


class SlackReceiver:
    """Stands in for Slack's incoming webhook. `mode`: 'ok' (200 "ok"), 'error' (500, echoing the
    path it was called on, as a careless proxy might), 'hang' (no answer until released)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.requests = 0
        self.mode = "ok"
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests += 1
                if receiver.mode == "hang":
                    receiver.release.wait(10)
                    return
                if receiver.mode == "error":
                    self._answer(500, f"internal_error at {self.path}")
                    return
                receiver.bodies.append(json.loads(body))
                self._answer(200, "ok")

            def _answer(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T0TEAM/B0HOOK/{TOKEN}"

    @property
    def texts(self) -> list[str]:
        return [b["text"] for b in self.bodies]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Inbox:
    """aiosmtpd handler: keeps every accepted message; `reply` (e.g. '550 ...') refuses DATA."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reply: str | None = None
        self.refused = 0
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.reply:
            self.refused += 1
            return self.reply
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.login == USERNAME.encode() and auth_data.password == PASSWORD.encode())

    @property
    def bodies(self) -> list[str]:
        return [m.get_content() for m in self.messages]




def smtp_server(inbox: Inbox, **kwargs) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), server_hostname="localhost",
                            ready_timeout=5, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def slack():
    receiver = SlackReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def inbox():
    box = Inbox()
    controller = smtp_server(box)
    box.port = controller.port
    yield box
    controller.stop()


# The band rule has no threshold to switch it off (it fires wherever a call lies outside its
# caller's own band, which the demo has every day); these tests are about the threshold rules.
THRESHOLD_RULES = tuple(r for r in ALERT_RULES if r != "band")


def with_notify(settings: Settings, slack: SlackReceiver | None = None, inbox: Inbox | None = None,
                alerts: dict | None = None, **notify_kwargs) -> Settings:
    n = NotifySettings(slack_rules=THRESHOLD_RULES, email_rules=THRESHOLD_RULES,
        public_base_url=BASE,
        slack_enabled=slack is not None, slack_webhook_url=Secret(slack.url) if slack else None,
        email_enabled=inbox is not None, smtp_host="127.0.0.1", smtp_port=inbox.port if inbox else 25,
        smtp_starttls=False, email_from="forecast-alerts@example.com",
        email_to=("cro@example.com", "revops@example.com"),
        timeout_seconds=3.0, max_attempts=3, backoff_seconds=0.01, deadline_seconds=20.0)
    settings = replace(settings, notify=replace(n, **notify_kwargs),
                       alerts=replace(settings.alerts, **(alerts or {})))
    _validate(settings)  # what load_settings would check
    return settings


# Thresholds the demo's day-to-day moves of the calls cross (they move by a few percent), while
# coverage and accuracy never fire.
CHANGES_ONLY = {"coverage_min": 0.0, "accuracy_min_pct": 0.0, "change_pct": 0.01, "change_min_amount": 1.0}


def standing_still(settings: Settings) -> Settings:
    """The next demo refresh sees the same simulated day: nothing new."""
    return replace(settings, demo=replace(settings.demo, advance_days_per_refresh=0.0))


@dataclass(frozen=True)
class Refreshed:
    result: RefreshResult
    notifications: tuple[notify.Delivery, ...]

    @property
    def outcome(self) -> str:
        return self.result.outcome

    @property
    def run_id(self) -> int:
        return self.result.run_id


def refresh_and_notify(settings: Settings, wh: Warehouse, **kwargs) -> Refreshed:
    """A refresh, then its notifications: what the scheduler's job and the command line do."""
    result = run_refresh(settings, wh, **kwargs)
    return Refreshed(result, notify.after_refresh(settings, wh, result))


def deliveries(wh: Warehouse) -> list[dict]:
    df = notify.history(wh)
    return df.sort_values("delivery_id").to_dict("records")


def links(text: str) -> list[tuple[str, str]]:
    """(url, label) of every Slack link, with Slack's escaping undone."""
    unescape = lambda s: s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # noqa: E731
    return [(unescape(u), unescape(label)) for u, label in re.findall(r"<([^|>]+)\|([^>]*)>", text)]


# The demo's first refresh would take today's date, and on some simulated days no call moves (the
# org's weekends, a quarter's first day), so the tests start from a day known to move calls.
DEMO_START = datetime(2026, 7, 1)


@pytest.fixture
def demo_wh(demo_settings):
    with Warehouse.from_settings(demo_settings) as warehouse:
        warehouse.set_demo_clock(DEMO_START)  # the first refresh runs the day after
        yield warehouse


# -- done means ------------------------------------------------------------------------------------


def test_a_refresh_whose_changes_cross_a_threshold_notifies_once(demo_settings, demo_wh, slack, inbox):
    settings = with_notify(demo_settings, slack, inbox, alerts=CHANGES_ONLY)
    first = refresh_and_notify(settings, demo_wh)
    assert first.outcome == "success" and first.notifications == ()  # one export: no changes yet
    assert slack.bodies == [] and inbox.messages == []

    second = refresh_and_notify(settings, demo_wh)  # a simulated day later: calls moved
    assert second.outcome == "success"
    assert [(d.channel, d.outcome, d.attempts) for d in second.notifications] == [("slack", "sent", 1),
                                                                                ("email", "sent", 1)]
    assert len(slack.bodies) == 1 and len(inbox.messages) == 1
    period = analytics.periods(demo_wh, "net_arr")["time_period"].iloc[0]
    moved = notify.evaluate(demo_wh, settings)
    [change] = [f.alert for f in moved if f.alert.rule == "change"]
    n = len(change.items)

    mail = inbox.messages[0]
    assert mail["Subject"] == f"[Clari forecast] {n} new alert{'s' if n > 1 else ''}: net_arr {period}"
    assert mail["From"] == "forecast-alerts@example.com" and mail["To"] == "cro@example.com, revops@example.com"
    assert inbox.envelopes[0][1] == ["cro@example.com", "revops@example.com"]
    assert mail.get_content_type() == "text/plain"
    text, body = slack.texts[0], inbox.bodies[0]
    shown = render.ITEMS_PER_ALERT["slack"]
    assert n > shown  # a busy day: Slack lists the first ones and links to the rest
    for item in change.items:  # names the person, the number and the threshold
        assert item.subject in body and item.value in body
    for item in change.items[:shown]:
        assert item.value in text
    assert f"• and {n - shown} more: <{BASE}/changes?forecast=net_arr&amp;period={period}|see them all>" in text
    assert "0.01% and $1" in text and "0.01% and $1" in body and f"net_arr {period}" in body

    third = refresh_and_notify(standing_still(settings), demo_wh)  # nothing new
    assert third.outcome == "success" and third.notifications == ()
    assert len(slack.bodies) == 1 and len(inbox.messages) == 1

    history = deliveries(demo_wh)
    assert [(h["run_id"], h["channel"], h["kind"], h["outcome"], h["attempts"]) for h in history] == [
        (second.run_id, "slack", "alerts", "sent", 1), (second.run_id, "email", "alerts", "sent", 1)]
    assert sorted(history[0]["rule_keys"]) == sorted(change.keys(f"net_arr/{period}"))
    assert history[0]["error"] is None and history[0]["sent_at"] is not None


def test_the_links_open_the_page_with_the_filters_that_show_each_item(demo_settings, demo_wh, slack, inbox):
    settings = with_notify(demo_settings, slack, inbox, alerts=CHANGES_ONLY)
    refresh_and_notify(settings, demo_wh)
    refresh_and_notify(settings, demo_wh)
    period = analytics.periods(demo_wh, "net_arr")["time_period"].iloc[0]
    people = analytics.people(demo_wh, "net_arr", period).set_index("user_id")
    managers = set(people.index[people["is_manager"]])
    [change] = [f.alert for f in notify.evaluate(demo_wh, settings) if f.alert.rule == "change"]

    def check(url: str, label: str, item) -> None:
        user_id = item.subject_id.split("/")[0]
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/changes"
        assert query["forecast"] == ["net_arr"] and query["period"] == [period]
        assert label.startswith(item.subject)
        boss = people.loc[user_id, "manager_user_id"]
        if isinstance(boss, str):  # the item's manager's team: the page lists the item among its members
            assert query["team"] == [boss] and boss in managers
            assert people.loc[boss, "user_name"] in label
        else:
            assert "team" not in query
        if people.loc[user_id, "is_manager"]:
            assert "rep" not in query
        else:  # a rep: the rep filter, valid for that team (the filters check the same)
            assert query["rep"] == [user_id]
            assert user_id in analytics.team_members(people.reset_index(), boss)

    found = links(slack.texts[0])
    assert found[0] == (f"{BASE}/changes?forecast=net_arr&period={period}", "Recent changes")
    item_links = [(url, label) for url, label in found[1:] if label != "see them all"]
    assert len(item_links) == render.ITEMS_PER_ALERT["slack"] < len(change.items)
    for (url, label), item in zip(item_links, change.items):
        check(url, label, item)
    lines = inbox.bodies[0].splitlines()  # the e-mail lists every item: "  - label", then "    url"
    mailed = [(lines[i + 1].strip(), line.removeprefix("  - ")) for i, line in enumerate(lines)
              if line.startswith("  - ")]
    assert len(mailed) == len(change.items)
    for (url, label), item in zip(mailed, change.items):
        check(url, label, item)
    assert [u for u, _ in mailed[:len(item_links)]] == [u for u, _ in item_links]
    assert f"{BASE}/data" in inbox.bodies[0]


def test_each_channel_receives_only_its_rules(demo_settings, demo_wh, slack, inbox):
    settings = with_notify(demo_settings, slack, inbox, slack_rules=("coverage",), email_rules=("change",),
                           alerts={**CHANGES_ONLY, "coverage_min": 1000.0})
    refresh_and_notify(settings, demo_wh)
    assert len(slack.bodies) == 1 and inbox.messages == []  # coverage fires at once; no change yet
    assert "Pipeline coverage below 1000x" in slack.texts[0]
    assert f"{BASE}/coverage?forecast=net_arr" in links(slack.texts[0])[0][0]

    refresh_and_notify(settings, demo_wh)
    assert len(slack.bodies) == 1  # coverage still fires for the same people: not sent again
    assert len(inbox.messages) == 1 and "Calls moved by at least" in inbox.bodies[0]
    assert "coverage" not in inbox.bodies[0].lower()
    channels = {d["channel"]: d["rule_keys"] for d in deliveries(demo_wh)}
    assert all(k.startswith("coverage|") for k in channels["slack"])
    assert all(k.startswith("change|") for k in channels["email"])


def test_an_alert_that_clears_and_fires_again_is_sent_again(demo_settings, demo_wh, slack):
    firing = with_notify(standing_still(demo_settings), slack, slack_rules=("coverage",),
                         alerts={"coverage_min": 1000.0})
    calm = with_notify(standing_still(demo_settings), slack, slack_rules=("coverage",), alerts={"coverage_min": 0.0})
    refresh_and_notify(firing, demo_wh)
    assert len(slack.bodies) == 1
    refresh_and_notify(firing, demo_wh)
    assert len(slack.bodies) == 1
    keys = set(deliveries(demo_wh)[0]["rule_keys"])
    refresh_and_notify(calm, demo_wh)  # cleared: marked, nothing sent
    assert len(slack.bodies) == 1
    state = notify.state(demo_wh, "slack")
    assert set(state["status"]) == {"cleared"} and set(state["alert_key"]) == keys
    refresh_and_notify(firing, demo_wh)  # fires again: a new streak, sent again
    assert len(slack.bodies) == 2 and slack.texts[1].count("•") == slack.texts[0].count("•")
    assert set(deliveries(demo_wh)[1]["rule_keys"]) == keys
    assert set(notify.state(demo_wh, "slack")["status"]) == {"firing"}


def test_a_failed_refresh_is_sent_once_per_failure_streak(sim_settings, simulator, slack, inbox):
    settings = with_notify(sim_settings, slack, inbox, slack_rules=("refresh_failed",),
                           email_rules=("refresh_failed",))
    period = simulator.org.current_period()
    with Warehouse.from_settings(settings) as wh:
        assert refresh_and_notify(settings, wh, periods=[period]).notifications == ()
        simulator.faults.result_body("empty", times=None)
        failed = refresh_and_notify(settings, wh, periods=[period])
        assert failed.outcome == "failed" and [d.outcome for d in failed.notifications] == ["sent", "sent"]
        assert len(slack.bodies) == 1 and len(inbox.messages) == 1
        assert "A refresh failed" in slack.texts[0] and "came back with no entries" in slack.texts[0]
        assert inbox.messages[0]["Subject"] == "[Clari forecast] 1 new alert: refresh failed"
        assert f"net_arr {period}" in inbox.bodies[0] and f"{BASE}/data" in inbox.bodies[0]
        refresh_and_notify(settings, wh, periods=[period])  # fails again: the same streak
        assert len(slack.bodies) == 1 and len(inbox.messages) == 1
        simulator.faults.clear()
        assert refresh_and_notify(settings, wh, periods=[period]).outcome == "success"
        assert len(slack.bodies) == 1
        simulator.faults.result_body("empty")
        refresh_and_notify(settings, wh, periods=[period])  # a new failure after a success
        assert len(slack.bodies) == 2 and len(inbox.messages) == 2


# -- failures --------------------------------------------------------------------------------------


def test_a_failing_webhook_is_retried_recorded_and_retried_next_refresh(demo_settings, demo_wh, slack, inbox):
    settings = with_notify(demo_settings, slack, inbox, alerts=CHANGES_ONLY)
    refresh_and_notify(settings, demo_wh)
    slack.mode = "error"
    second = refresh_and_notify(settings, demo_wh)
    assert second.outcome == "success"  # a channel never fails the refresh
    by_channel = {d.channel: d for d in second.notifications}
    assert by_channel["slack"].outcome == "failed" and by_channel["slack"].attempts == 3
    assert "HTTP 500" in by_channel["slack"].error and "after 3 attempts" in by_channel["slack"].error
    assert slack.requests == 3
    assert by_channel["email"].outcome == "sent" and len(inbox.messages) == 1  # the other channel is unaffected
    recorded = deliveries(demo_wh)
    assert [(r["channel"], r["outcome"], r["attempts"]) for r in recorded] == [("slack", "failed", 3),
                                                                              ("email", "sent", 1)]
    assert pd.isna(recorded[0]["sent_at"]) and "HTTP 500" in recorded[0]["error"]
    assert analytics.run_history(demo_wh).set_index("run_id").loc[second.run_id, "outcome"] == "success"

    slack.mode = "ok"
    third = refresh_and_notify(standing_still(settings), demo_wh)  # nothing new, but Slack never got it
    assert [(d.channel, d.outcome) for d in third.notifications] == [("slack", "sent")]
    assert len(slack.bodies) == 1 and len(inbox.messages) == 1
    assert set(deliveries(demo_wh)[-1]["rule_keys"]) == set(recorded[0]["rule_keys"])
    assert refresh_and_notify(standing_still(settings), demo_wh).notifications == ()


def test_backoff_doubles_between_attempts(demo_settings, demo_wh, slack):
    settings = with_notify(standing_still(demo_settings), slack, slack_rules=("coverage",), max_attempts=4,
                           backoff_seconds=1.5, alerts={"coverage_min": 1000.0})
    refresh_and_notify(replace(settings, notify=replace(settings.notify, slack_enabled=False)), demo_wh)
    slack.mode = "error"
    waits: list[float] = []
    [delivery] = notify.notify(settings, demo_wh, sleep=waits.append)
    assert waits == [1.5, 3.0, 6.0] and delivery.attempts == 4 and slack.requests == 4


def test_a_refused_mail_is_recorded_and_sent_next_time(demo_settings, demo_wh, inbox):
    settings = with_notify(standing_still(demo_settings), inbox=inbox, email_rules=("coverage",),
                           alerts={"coverage_min": 1000.0})
    inbox.reply = "550 5.1.1 Mailbox unavailable"
    result = refresh_and_notify(settings, demo_wh)
    [d] = result.notifications
    assert result.outcome == "success" and d.outcome == "failed"
    assert d.attempts == 1 and inbox.refused == 1  # a permanent refusal is not retried within the refresh
    assert "refused the message: 550 5.1.1 Mailbox unavailable" in d.error and "127.0.0.1" in d.error
    assert deliveries(demo_wh)[0]["error"] == d.error
    inbox.reply = None
    again = refresh_and_notify(settings, demo_wh)
    assert [x.outcome for x in again.notifications] == ["sent"] and len(inbox.messages) == 1


def test_a_temporary_smtp_refusal_is_retried(demo_settings, demo_wh, inbox):
    settings = with_notify(standing_still(demo_settings), inbox=inbox, email_rules=("coverage",),
                           alerts={"coverage_min": 1000.0})
    inbox.reply = "451 4.3.0 Try again later"
    [d] = refresh_and_notify(settings, demo_wh).notifications
    assert d.outcome == "failed" and d.attempts == 3 and inbox.refused == 3 and "451" in d.error


def test_an_unreachable_smtp_server_is_a_clear_error(demo_settings, demo_wh):
    settings = with_notify(standing_still(demo_settings), email_enabled=True, smtp_port=free_port(),
                           email_rules=("coverage",), alerts={"coverage_min": 1000.0})
    [d] = refresh_and_notify(settings, demo_wh).notifications
    assert d.outcome == "failed" and d.attempts == 3 and "could not reach the SMTP server 127.0.0.1:" in d.error


def test_a_hanging_webhook_times_out_within_the_bound(demo_settings, demo_wh, slack):
    settings = with_notify(standing_still(demo_settings), slack, slack_rules=("coverage",), timeout_seconds=0.3,
                           max_attempts=2, backoff_seconds=0.0, alerts={"coverage_min": 1000.0})
    refresh_and_notify(replace(settings, notify=replace(settings.notify, slack_enabled=False)), demo_wh)
    slack.mode = "hang"
    result = refresh_and_notify(settings, demo_wh)
    [d] = result.notifications
    # Each attempt ended by its time-out (how long that takes is the benchmark's: bench/limits.py).
    assert result.outcome == "success" and d.outcome == "failed" and d.attempts == 2
    assert "did not answer within 0.3 s" in d.error


def test_the_deadline_bounds_a_channel_however_many_attempts_remain(demo_settings, demo_wh, slack):
    settings = with_notify(standing_still(demo_settings), slack, slack_rules=("coverage",), timeout_seconds=0.4,
                           max_attempts=10, backoff_seconds=0.05, deadline_seconds=1.0,
                           alerts={"coverage_min": 1000.0})
    refresh_and_notify(replace(settings, notify=replace(settings.notify, slack_enabled=False)), demo_wh)
    slack.mode = "hang"
    [d] = notify.notify(settings, demo_wh)
    # Stopped by the deadline, not by running out of attempts (the wall-clock bound: bench/limits.py).
    assert d.outcome == "failed" and d.attempts < 10 and "deadline" in d.error


def test_a_bug_in_the_notifier_never_fails_the_refresh(demo_settings, demo_wh, slack, monkeypatch, caplog):
    settings = with_notify(demo_settings, slack)

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom near {slack.url}")

    monkeypatch.setattr(notify, "evaluate", broken)
    with caplog.at_level(logging.ERROR, logger="clari_data.alerting.notify"):
        result = refresh_and_notify(settings, demo_wh)
    assert result.outcome == "success" and result.notifications == ()
    assert "RuntimeError: boom near ********" in caplog.text and TOKEN not in caplog.text


# -- secrets, escaping, TLS ------------------------------------------------------------------------


def test_secrets_never_appear_in_errors_logs_rows_or_messages(demo_settings, demo_wh, slack, caplog):
    inbox = Inbox()
    controller = smtp_server(inbox, authenticator=inbox.authenticate, auth_require_tls=False)
    inbox.port = controller.port
    try:
        settings = with_notify(standing_still(demo_settings), slack, inbox, smtp_username=Secret(USERNAME),
                               smtp_password=Secret(PASSWORD), alerts={"coverage_min": 1000.0})
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="httpx")  # whatever an earlier test in this process set it to
        slack.mode = "error"  # answers with the path it was called on, token included
        inbox.reply = f"550 no thanks {USERNAME} {PASSWORD}"  # a server echoing the login
        failed = refresh_and_notify(settings, demo_wh)
        assert {d.outcome for d in failed.notifications} == {"failed"}
        assert inbox.logins == [(USERNAME.encode(), PASSWORD.encode())]  # the login did happen
        slack.mode, inbox.reply = "ok", None
        sent = refresh_and_notify(settings, demo_wh)
        assert {d.outcome for d in sent.notifications} == {"sent"}
        for result in (failed, sent):
            assert "********" in failed.notifications[0].error
            seen = [repr(result), repr(settings), str(settings.redacted()), json.dumps(slack.bodies)]
            seen += [m.as_string() for m in inbox.messages]
            seen += [str(r) for r in notify.history(demo_wh).to_dict("records")]
            seen += [str(r) for r in demo_wh.table_contents(("runs",))["runs"]]
            app_logs = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
            for secret in EVERY_SECRET:
                assert not any(secret in text for text in seen + app_logs), secret
        assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)  # httpx did log, redacted
    finally:
        controller.stop()


def hostile_wh(tmp_path) -> Warehouse:
    e = Export(period="2026_Q1", users=[
        user("boss", "<script>alert('x')</script> & co", "BOSS"),
        user("r1", "**bold** <!channel> [link](http://evil.example)", "REP-1", "BOSS"),
    ], weeks=["2026-03-23"])
    for uid in ("boss", "r1"):
        e.row(uid, "2026-03-23", commit=10, best_case=20, quota=100, closed=5, pipeline=50)
    wh = Warehouse(tmp_path / "hostile.duckdb")
    wh.load_export(e.write(tmp_path / "hostile.json"), forecast_id="net_arr", job_id="h",
                   requested_period="2026_Q1", exported_at=datetime(2026, 4, 2))
    return wh


def test_names_from_clari_are_plain_text_in_both_channels(tmp_path, slack, inbox):
    settings = with_notify(Settings(), slack, inbox, slack_rules=("coverage",), email_rules=("coverage",),
                           alerts={"coverage_min": 5.0, "stale_after_hours": 1e9})
    wh = hostile_wh(tmp_path)
    try:
        assert [d.outcome for d in notify.notify(settings, wh)] == ["sent", "sent"]
    finally:
        wh.close()
    text = slack.texts[0]
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; co" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text and "<script>" not in text
    body = inbox.bodies[0]  # text/plain: the names exactly as Clari has them
    assert "<script>alert('x')</script> & co" in body and "**bold** <!channel> [link](http://evil.example)" in body
    assert inbox.messages[0].get_content_type() == "text/plain"


def test_starttls_is_not_offered_is_a_clear_error(demo_settings, demo_wh, inbox):
    settings = with_notify(standing_still(demo_settings), inbox=inbox, smtp_starttls=True,
                           email_rules=("coverage",), alerts={"coverage_min": 1000.0})
    [d] = refresh_and_notify(settings, demo_wh).notifications
    assert d.outcome == "failed" and d.attempts == 1 and "STARTTLS" in d.error and "smtp_starttls" in d.error


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
def test_starttls_then_login_then_mail(demo_settings, demo_wh, tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test certificate, and only it
    inbox = Inbox()
    controller = smtp_server(inbox, tls_context=server_tls, require_starttls=True,
                             authenticator=inbox.authenticate, auth_require_tls=True)
    inbox.port = controller.port
    try:
        settings = with_notify(standing_still(demo_settings), inbox=inbox, smtp_starttls=True,
                               smtp_username=Secret(USERNAME), smtp_password=Secret(PASSWORD),
                               email_rules=("coverage",), alerts={"coverage_min": 1000.0})
        [d] = refresh_and_notify(settings, demo_wh).notifications
        assert d.outcome == "sent", d.error
        assert inbox.logins == [(USERNAME.encode(), PASSWORD.encode())] and len(inbox.messages) == 1
    finally:
        controller.stop()


# -- test messages, configuration ------------------------------------------------------------------


def test_send_a_test_message_to_each_channel(demo_settings, demo_wh, slack, inbox):
    settings = with_notify(demo_settings, slack, inbox)
    sent = [notify.send_test(settings, demo_wh, channel) for channel in ("slack", "email")]
    assert [(d.outcome, d.error) for d in sent] == [("sent", None), ("sent", None)]
    assert "test message" in slack.texts[0] and f"{BASE}/data" in slack.texts[0]
    assert inbox.messages[0]["Subject"] == "[Clari forecast] Test message"
    slack.mode = "error"
    later = utc_now() + timedelta(seconds=notify.TEST_COOLDOWN_SECONDS + 1)  # past the cool-down
    failed = notify.send_test(settings, demo_wh, "slack", now=later)
    assert failed.outcome == "failed" and failed.attempts == 1 and "HTTP 500" in failed.error
    assert TOKEN not in failed.error
    history = deliveries(demo_wh)
    assert [(h["channel"], h["kind"], h["outcome"], h["run_id"]) for h in history] == [
        ("slack", "test", "sent", None), ("email", "test", "sent", None), ("slack", "test", "failed", None)]
    assert notify.send_test(replace(settings, notify=replace(settings.notify, email_enabled=False)), demo_wh,
                            "email").error == "E-mail is not enabled in [notify]"


def test_test_messages_have_a_cool_down_per_channel(demo_settings, demo_wh, slack, inbox):
    settings = with_notify(demo_settings, slack, inbox)
    assert notify.send_test(settings, demo_wh, "slack").ok
    again = notify.send_test(settings, demo_wh, "slack")
    assert not again.ok and "moments ago" in again.error and again.attempts == 0
    assert notify.send_test(settings, demo_wh, "email").ok  # another channel has its own
    almost = utc_now() + timedelta(seconds=notify.TEST_COOLDOWN_SECONDS - 5)
    assert not notify.send_test(settings, demo_wh, "slack", now=almost).ok
    after = utc_now() + timedelta(seconds=notify.TEST_COOLDOWN_SECONDS + 1)
    assert notify.send_test(settings, demo_wh, "slack", now=after).ok
    assert len(slack.texts) == 2 and len(inbox.messages) == 1
    assert [(h["channel"], h["outcome"]) for h in deliveries(demo_wh)] == [
        ("slack", "sent"), ("email", "sent"), ("slack", "sent")]  # a refused request records nothing


def test_test_messages_follow_the_refresh_access_rule(demo_settings, demo_wh, slack):
    from clari_data.shared.config import AccessSettings, ScheduleSettings

    settings = replace(with_notify(demo_settings, slack), access=AccessSettings(refresh_allowed=("@acme.com",)))
    for address in (None, "eve@other.org", "\u0430na@acme.com"):
        refused = notify.send_test(settings, demo_wh, "slack", sign_in=True, requested_by=address)
        assert not refused.ok and "Only those who may refresh" in refused.error
    off = replace(settings, schedule=ScheduleSettings(manual_refresh=False))
    assert "manual_refresh = false" in notify.send_test(off, demo_wh, "slack").error
    assert slack.texts == [] and deliveries(demo_wh) == []
    assert notify.send_test(settings, demo_wh, "slack", sign_in=True, requested_by="ana@acme.com").ok


def load(tmp_path: Path, toml: str, env: dict | None = None, secrets: str | None = None) -> Settings:
    config = tmp_path / "clari.toml"
    config.write_text(toml)
    secrets_path = tmp_path / "secrets.toml"
    if secrets is not None:
        secrets_path.write_text(secrets)
    return load_settings(config, env=env or {}, secrets_path=secrets_path)


def test_notify_settings_from_the_files_and_the_environment(tmp_path):
    toml = ('[notify]\npublic_base_url = "https://dash.example.com"\nslack_enabled = true\n'
            'slack_rules = ["change", "refresh_failed"]\nemail_enabled = true\nsmtp_host = "smtp.example.com"\n'
            'email_from = "a@example.com"\nemail_to = ["b@example.com"]\nmax_attempts = 5\n')
    secrets = (f'[notify]\nslack_webhook_url = "https://hooks.slack.com/services/T/B/{TOKEN}"\n'
               f'smtp_username = "{USERNAME}"\nsmtp_password = "{PASSWORD}"\n')
    s = load(tmp_path, toml, secrets=secrets)
    n = s.notify
    assert n.channels() == ("slack", "email") and n.slack_rules == ("change", "refresh_failed")
    assert n.email_rules == ALERT_RULES and n.max_attempts == 5 and n.smtp_port == 587 and n.smtp_starttls
    assert n.slack_webhook_url.reveal().endswith(TOKEN) and n.smtp_password.reveal() == PASSWORD
    shown = str(s.redacted()) + repr(s)
    assert s.redacted()["notify"]["slack_webhook_url"] == "(set)"
    assert not any(secret in shown for secret in EVERY_SECRET)
    env = load(tmp_path, toml, env={"CLARI_SLACK_WEBHOOK_URL": "https://hooks.example/other",
                                    "CLARI_SMTP_USERNAME": "u2", "CLARI_SMTP_PASSWORD": "p2"}, secrets=secrets)
    assert env.notify.slack_webhook_url.reveal() == "https://hooks.example/other"
    assert env.notify.smtp_password.reveal() == "p2" and env.notify.smtp_username.reveal() == "u2"


@pytest.mark.parametrize("toml, secrets, message", [
    ('[notify]\nslack_rules = ["coverage", "forecast_drop"]\n', None,
     "[notify] slack_rules has unknown rule 'forecast_drop'; known rules: coverage, accuracy, change"),
    ("[notify]\nemail_rules = []\n", None, "[notify] email_rules must list at least one rule"),
    ("[notify]\nslack_enabled = true\n", None, "[notify] slack_enabled is true but no webhook URL is set"),
    (f'[notify]\nslack_webhook_url = "https://hooks.slack.com/services/{TOKEN}"\n', None,
     "[notify] slack_webhook_url is a secret and is not read from clari.toml"),
    ('[notify]\nemail_enabled = true\nsmtp_host = "smtp.example.com"\n', None,
     "[notify] email_enabled is true but email_from is not set"),
    ('[notify]\nemail_to = ["ok@example.com", "not an address"]\n', None, "[notify] email_to: 'not an address'"),
    ('[notify]\nemail_from = "a@example.com\\nBcc: x@evil.example"\n', None, "[notify] email_from"),
    ("[notify]\nmax_attempts = 0\n", None, "[notify] max_attempts must be between 1 and 10"),
    ("[notify]\ntimeout_seconds = 0\n", None, "[notify] timeout_seconds must be above 0"),
    ('[notify]\npublic_base_url = "dash.example.com"\n', None, "[notify] public_base_url must start with http"),
    ("[notify]\nsmtp_port = 70000\n", None, "[notify] smtp_port must be between 1 and 65535"),
    ('[notify]\nslack_rules = "coverage"\n', None, "[notify] slack_rules must be a list of strings"),
    ("[notify]\nwebhook = 1\n", None, "[notify] has an unknown key 'webhook'"),
    ("", f'[notify]\nslack_webhook_url = "hooks.slack.com/{TOKEN}"\n', "[notify] slack_webhook_url must start with"),
    ("", f'[notify]\nsmtp_password = "{PASSWORD}"\n', "smtp_username and smtp_password go together"),
    ("", '[notify]\nwebhook_url = "x"\n', "[notify] in the secrets file has an unknown key 'webhook_url'"),
])
def test_bad_notify_settings_give_one_clear_error(tmp_path, toml, secrets, message):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, toml, secrets=secrets)
    assert message in str(info.value)
    assert not any(secret in str(info.value) for secret in EVERY_SECRET)


def test_no_channel_means_no_work(demo_settings, demo_wh):
    result = refresh_and_notify(demo_settings, demo_wh)
    assert result.notifications == () and notify.history(demo_wh).empty
    assert notify.state(demo_wh, "slack").empty and notify.state(demo_wh, "email").empty


def test_the_data_page_shows_the_history_and_sends_test_messages(demo_settings, tmp_path, slack, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from clari_data.runtime.scheduler import stop_process_services

    db = tmp_path / "app.duckdb"
    settings = with_notify(replace(demo_settings, warehouse=replace(demo_settings.warehouse, path=str(db))), slack,
                           slack_rules=("coverage",), alerts={"coverage_min": 1000.0})
    with Warehouse.from_settings(settings) as wh:
        refresh_and_notify(settings, wh)
    assert len(slack.bodies) == 1
    config = tmp_path / "clari.toml"
    config.write_text('[demo]\njob_seconds = 0.02\n[alerts]\ncoverage_min = 1000\n'
                      f'[notify]\nslack_enabled = true\npublic_base_url = "{BASE}"\nmax_attempts = 1\n')
    monkeypatch.setenv("CLARI_CONFIG", str(config))
    monkeypatch.setenv("CLARI_DB_PATH", str(db))
    monkeypatch.setenv("CLARI_SLACK_WEBHOOK_URL", slack.url)
    monkeypatch.setenv("CLARI_SECRETS", str(tmp_path / "no-secrets.toml"))
    monkeypatch.delenv("CLARI_API_KEY", raising=False)
    monkeypatch.chdir(ROOT)
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        at.switch_page("views/data.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Notifications" in [s.value for s in at.subheader]
        frames = [df.value for df in at.dataframe]
        assert any("Channel" in f.columns or "channel" in f.columns for f in frames)
        assert at.button(key="notify-test-slack") and not any(b.key == "notify-test-email" for b in at.button)
        at.button(key="notify-test-slack").click().run()
        assert any("Test message sent to Slack" in s.value for s in at.success), [s.value for s in at.success]
        assert len(slack.bodies) == 2 and "test message" in slack.texts[1]
        at.button(key="notify-test-slack").click().run()  # again at once: the cool-down refuses it
        assert any("moments ago" in e.value for e in at.error) and len(slack.bodies) == 2
        monkeypatch.setattr(notify, "TEST_COOLDOWN_SECONDS", 0.0)
        slack.mode = "error"
        at.button(key="notify-test-slack").click().run()
        errors = " ".join(e.value for e in at.error)
        assert "HTTP 500" in errors and TOKEN not in errors
        page_text = " ".join(str(e.value) for e in at.markdown) + " ".join(str(c.value) for c in at.code)
        assert TOKEN not in page_text

        # A link from the message opens the page with the filters that show its rep, no notice.
        url, label = next((u, lb) for u, lb in links(slack.texts[0]) if "rep=" in u)
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path == "/dash/coverage"
        linked = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        for key, values in query.items():
            linked.query_params[key] = values if len(values) > 1 else values[0]
        linked.switch_page("views/coverage.py")
        linked.run()
        assert not linked.exception, [e.value for e in linked.exception]
        assert not any("The link" in w.value for w in linked.warning)
        assert linked.selectbox(key="period").value == query["period"][0]
        assert linked.selectbox(key="team").value == query["team"][0]
        assert linked.multiselect(key="rep").value == query["rep"]
        assert "Pipeline coverage is below" in " ".join(w.value for w in linked.warning)
    finally:
        stop_process_services()
