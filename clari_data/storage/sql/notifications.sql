-- Notification state (migration 003): what each channel was told, and every delivery.

-- name: notification_fire
-- Record the keys firing now for a channel ($keys and $rules are parallel lists). A key new to the
-- channel, or one that had cleared, starts a new streak that is not delivered yet; a key already
-- firing keeps its streak and whether it was delivered. (MERGE on both backends: a lake has no keys
-- for ON CONFLICT.)
MERGE INTO notification_state AS t
USING (SELECT $channel AS channel, unnest($keys) AS alert_key, unnest($rules) AS rule) AS s
ON t.channel = s.channel AND t.alert_key = s.alert_key
WHEN MATCHED THEN UPDATE SET
    rule = s.rule,
    first_fired_at = CASE WHEN t.status = 'firing' THEN t.first_fired_at ELSE $now END,
    notified_at = CASE WHEN t.status = 'firing' THEN t.notified_at END,
    status = 'firing',
    last_seen_at = $now,
    cleared_at = NULL
WHEN NOT MATCHED THEN INSERT
    (channel, alert_key, rule, status, first_fired_at, last_seen_at, notified_at, cleared_at)
    VALUES (s.channel, s.alert_key, s.rule, 'firing', $now, $now, NULL, NULL);

-- name: notification_clear
-- Keys of a channel that fired before and do not fire now have cleared.
UPDATE notification_state
SET status = 'cleared', cleared_at = $now
WHERE channel = $channel AND status = 'firing' AND NOT list_contains($keys, alert_key);

-- name: notification_pending
-- Firing keys of a channel whose streak has not been delivered yet: what its next message carries.
SELECT alert_key
FROM notification_state
WHERE channel = $channel AND status = 'firing' AND notified_at IS NULL
ORDER BY alert_key;

-- name: next_delivery_id
-- The id is max + 1, taken under the warehouse's write lock in the transaction that records the
-- delivery (a lake refuses INSERT ... RETURNING).
SELECT coalesce(max(delivery_id), 0) + 1 FROM notification_deliveries;

-- name: notification_record
-- One delivery (a message to one channel), whatever its outcome.
INSERT INTO notification_deliveries
    (delivery_id, run_id, channel, kind, rule_keys, subject, started_at, sent_at, outcome, attempts, error)
VALUES ($delivery_id, $run_id, $channel, $kind, $rule_keys, $subject, $started_at, $sent_at, $outcome, $attempts,
        $error);

-- name: notification_mark_sent
-- The channel accepted a message carrying these keys: their current streak is delivered.
UPDATE notification_state
SET notified_at = $now
WHERE channel = $channel AND status = 'firing' AND list_contains($keys, alert_key);

