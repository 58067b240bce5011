-- Notifications (clari_data/storage/warehouse/notifications.py): what each channel was told, and every delivery attempt.
--
-- notification_state holds, per channel, each alert identity (Alert.keys: rule|scope|subject) seen
-- firing and whether the current firing streak has been delivered. A key that still fires after it
-- was delivered is not sent again; one that clears is marked cleared, and if it fires later it
-- starts a new streak and is sent again. notification_deliveries is the history shown on /data.

CREATE TABLE notification_state (
    channel        VARCHAR NOT NULL,      -- 'slack', 'email'
    alert_key      VARCHAR NOT NULL,      -- rule|scope|subject, e.g. change|net_arr/2026_Q4|u42/fc_commit
    rule           VARCHAR NOT NULL,
    status         VARCHAR NOT NULL,      -- 'firing', 'cleared'
    first_fired_at TIMESTAMP NOT NULL,    -- start of the current (or last) firing streak
    last_seen_at   TIMESTAMP NOT NULL,    -- last evaluation that found it firing
    notified_at    TIMESTAMP,             -- when this streak was delivered; NULL: not yet (new, or delivery failed)
    cleared_at     TIMESTAMP,             -- when it stopped firing; NULL while firing
    PRIMARY KEY (channel, alert_key)
);

-- One row per message: a refresh's new alerts for one channel, or a test message from /data.
-- delivery_id is max + 1 under the warehouse's write lock, not a sequence: DuckDB does not restore a
-- sequence's state from the write-ahead log after a crash, so a sequence could repeat an id.
CREATE TABLE notification_deliveries (
    delivery_id BIGINT PRIMARY KEY,
    run_id      BIGINT,                   -- the refresh that evaluated the rules; NULL for a test message
    channel     VARCHAR NOT NULL,         -- 'slack', 'email'
    kind        VARCHAR NOT NULL,         -- 'alerts', 'test'
    rule_keys   VARCHAR[] NOT NULL,       -- the alert keys the message carries
    subject     VARCHAR NOT NULL,         -- what the message was about (the e-mail subject)
    started_at  TIMESTAMP NOT NULL,
    sent_at     TIMESTAMP,                -- when the channel accepted it; NULL when it did not
    outcome     VARCHAR NOT NULL,         -- 'sent', 'failed'
    attempts    INTEGER NOT NULL,
    error       VARCHAR                   -- why it failed (never a credential or the webhook URL)
);
