"""Data & refresh: freshness, "Refresh now" with live progress, run and export history, row
counts, the Clari quota left, notifications (history and test messages), and the configuration
without secrets."""

import json
from functools import partial

import streamlit as st

from clari_data.alerting import notify
from clari_data.ingest.client import ClariError
from clari_data.ingest.refresh import read_limits
from clari_data.read import page_data
from clari_data.shared import access
from ui import page
from ui.format import age, md_text

r = page.start("data")
# Who may refresh may also send a test message; both are checked again where they act.
may_act = access.may_refresh(r.settings, sign_in=r.sign_in, email=r.user_email).reason


@st.cache_data(ttl=60, show_spinner=False)
def clari_limits(base_url: str, version: int, _settings):
    """Clari's limits, asked at most once a minute per tenant (and again after each refresh): every
    rerun of this page, including the automatic ones, would otherwise call Clari."""
    return read_limits(_settings)


@st.fragment(run_every="2s")
def refresh_panel() -> None:
    state = r.service.state()
    why = may_act
    if why is None and state.running:
        why = "A refresh is running."
    elif why is None and state.cooldown_remaining > 0:
        why = (f"Refreshed moments ago: the next manual refresh is allowed in {int(state.cooldown_remaining) + 1} s "
               "(protects the Clari export quota).")
    label = "Refreshing…" if state.running else "Refresh now"
    if st.button(label, type="primary", disabled=why is not None, key="refresh-now", help=why and md_text(why)):
        # The service checks access again itself: a click forged on the disabled button ends there.
        answer = r.service.request_run("manual", requested_by=r.user_email, sign_in=r.sign_in)
        (st.toast if answer.accepted else st.warning)(answer.message)
        st.rerun(scope="fragment")  # redraw at once: the button disabled, the progress shown
    if why and not state.running:
        st.caption(md_text(why))
    if state.running and state.progress:
        p = state.progress
        done = (p.step - 1) / p.steps if p.steps else 0.0
        st.progress(min(max(done, 0.0), 1.0), text=f"{md_text(page.readable(p.message, r))}")
    elif state.progress and state.progress.stage in ("done", "failed"):
        (st.success if state.progress.stage == "done" else st.error)(
            f"Last refresh {age(state.last_finished_at, r.now) if state.last_finished_at else ''}: "
            f"{md_text(page.readable(state.progress.message, r))}")
    if state.next_run_at:
        st.caption(f"Next scheduled refresh: {state.next_run_at:%Y-%m-%d %H:%M %Z}.")


left, right = st.columns([2, 1])
with left:
    st.subheader("Refresh", anchor=False)
    refresh_panel()
with right:
    st.subheader("Clari export quota", anchor=False)
    try:
        limits = clari_limits(r.settings.clari.base_url, r.version, r.settings)
        st.metric("Exports left this 30 days", f"{limits.available_monthly} of {limits.monthly_quota}")
        st.caption(f"Concurrent exports free: {limits.available_concurrent} of {limits.concurrent_limit}.")
    except ClariError as exc:
        st.warning(f"Could not read Clari's limits: {md_text(exc)}")

num = st.column_config.NumberColumn
dt = st.column_config.DatetimeColumn
count = partial(num, format="localized")  # 120,000 rather than 120000
# What started a run, as the runs table stores it (the `trigger` passed to a refresh).
TRIGGERS = {"manual": "Refresh now", "schedule": "Schedule", "startup": "Server start", "cli": "Command line",
            "backfill": "Demo history", "resume": "Resumed by a new leader"}
st.subheader("Run history", anchor=False)
# Not cached per data version: a refresh that loads nothing still adds to the run history.
shown = page_data.data(r.wh, r.cur)
runs = shown.run_history.assign(trigger=shown.run_history["trigger"].map(lambda t: TRIGGERS.get(t, t)))
page.table(runs, {
    "run_id": num("Run"), "trigger": "Trigger", "requested_by": "Asked by",
    "started_at": dt("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "finished_at": dt("Finished (UTC)", format="HH:mm:ss"),
    "outcome": "Outcome", "exports_loaded": num("Exports"), "rows_loaded": count("Rows"),
    "changes_detected": count("Changes"), "error": "Error",
}, "run-history.csv", as_of=False)

st.subheader("Exports", anchor=False)
exports = shown.export_history.assign(
    forecast=shown.export_history["forecast_id"].map(r.forecast_name),
    period=shown.export_history["time_period"].map(r.period_label))
page.table(exports, {
    "forecast": "Forecast", "period": "Period", "status": "Status", "job_id": "Clari job",
    "exported_at": dt("Exported (UTC, simulated)" if r.settings.demo_mode else "Exported (UTC)",
                      format="YYYY-MM-DD HH:mm"), "entries": count("Entries"),
    "cells_added": count("Cells new"), "cells_changed": count("Cells changed"), "cells_removed": count("Cells gone"),
    "changes_detected": count("Changes"), "error": "Error", "warnings": st.column_config.ListColumn("Warnings"),
}, "export-history.csv", ids=("forecast_id", "time_period"), as_of=False)

st.subheader("Notifications", anchor=False)
channels = r.settings.notify.channels()
if channels:
    st.caption("After each refresh, alerts that newly fire go to "
               + " and ".join(notify.CHANNELS[c] for c in channels)
               + "; one still firing is not sent again until it clears. A failed delivery is tried again next refresh.")
    for column, channel in zip(st.columns(len(channels) + 2), channels):
        name = notify.CHANNELS[channel]
        about = (md_text(may_act) if may_act else f"Sends one message to {name} now and records it below (one "
                 f"per {notify.TEST_COOLDOWN_SECONDS:.0f} s at most).")
        if column.button(f"Send a test message ({name})", key=f"notify-test-{channel}", disabled=may_act is not None,
                         help=about):
            with st.spinner(f"Sending a test message to {name}…"):
                sent = notify.send_test(r.settings, r.wh, channel, sign_in=r.sign_in, requested_by=r.user_email)
            if sent.ok:
                st.success(f"Test message sent to {name}.")
            else:
                st.error(f"Test message to {name} failed: {md_text(sent.error)}")
else:
    st.caption("No channel is enabled: set `slack_enabled` or `email_enabled` under `[notify]` in clari.toml "
               "(docs/notifications.md says how).")
# Its own cursor, not the page's snapshot: a test message sent just now shows at once.
page.table(notify.history(r.wh), {
    "delivery_id": num("#"), "run_id": num("Run"), "channel": "Channel", "kind": "Kind", "outcome": "Outcome",
    "subject": "Subject", "alerts": num("Alerts"), "attempts": num("Attempts"),
    "started_at": dt("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"), "sent_at": dt("Sent (UTC)", format="HH:mm:ss"),
    "error": "Error", "rule_keys": st.column_config.ListColumn("Alert keys"),
}, "notification-history.csv", as_of=False)

left, right = st.columns(2)
with left:
    st.subheader("Rows in the warehouse", anchor=False)
    page.table(shown.row_counts, {"table_name": "Table", "rows": count("Rows")}, "row-counts.csv", as_of=False)
with right:
    st.subheader("Configuration", anchor=False)
    source = r.settings.source_path or "built-in defaults (no clari.toml)"
    st.caption(f"From {md_text(source)}; the API key and the notification credentials are never shown.")
    st.code(json.dumps(r.settings.redacted(), indent=2), language="json")
