"""Notification state (migration 003): which alert keys fire for each channel and whether their
current streak was delivered, and the record of every delivery (sql/notifications.sql)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from clari_data.shared.timeutil import naive_utc

from .core import Cursor, WarehouseCore, sql_statements

if TYPE_CHECKING:
    import pandas as pd


def _notifications(name: str) -> str:
    return sql_statements("notifications.sql")[name]


class Notifications(WarehouseCore):
    def notification_firing(self, channel: str, rules_by_key: dict[str, str], now: datetime) -> set[str]:
        """Record what fires now for a channel: a key new to it, or one that had cleared, starts a
        streak; a known key that no longer fires clears. Returns the firing keys not yet delivered."""
        keys = list(rules_by_key)
        params = {"channel": channel, "now": naive_utc(now)}

        def fire(cur: Cursor) -> set[str]:
            if keys:
                cur.execute(_notifications("notification_fire"),
                            {**params, "keys": keys, "rules": [rules_by_key[k] for k in keys]})
            cur.execute(_notifications("notification_clear"), {**params, "keys": keys})
            pending = cur.execute(_notifications("notification_pending"), {"channel": channel}).fetchall()
            return {row[0] for row in pending}
        return self.atomically(fire) & set(keys)

    def record_delivery(self, *, run_id: int | None, channel: str, kind: str, keys: tuple[str, ...], subject: str,
                        started_at: datetime, attempts: int, error: str | None) -> int:
        """One delivery row and, for a delivered 'alerts' message, its keys' streaks marked sent, in
        one transaction. Returns the delivery id."""
        finished = naive_utc()

        def record(cur: Cursor) -> int:
            delivery_id = cur.execute(_notifications("next_delivery_id")).fetchone()[0]
            cur.execute(_notifications("notification_record"), {
                "delivery_id": delivery_id, "run_id": run_id, "channel": channel, "kind": kind,
                "rule_keys": list(keys), "subject": subject, "started_at": naive_utc(started_at),
                "sent_at": None if error else finished, "outcome": "failed" if error else "sent",
                "attempts": attempts, "error": error,
            })
            if not error and kind == "alerts" and keys:
                cur.execute(_notifications("notification_mark_sent"),
                            {"channel": channel, "keys": list(keys), "now": finished})
            return int(delivery_id)
        return self.atomically(record)

    def notification_history(self, limit: int = 100, cur: Cursor | None = None) -> pd.DataFrame:
        """The latest deliveries, newest first (shown on /data)."""
        return self.query("notification_history", cur, limit=limit)

    def notification_state(self, channel: str, cur: Cursor | None = None) -> pd.DataFrame:
        """Every alert key the channel knows, with whether its current streak was delivered."""
        return self.query("notification_state", cur, channel=channel)
