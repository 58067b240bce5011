-- Notification state (migration 003): what each channel was told, and every delivery.

-- name: notification_fire
-- Record the keys firing now for a channel ($keys and $rules are parallel lists). A key new to the
-- channel, or one that had cleared, starts a new streak that is not delivered yet; a key already
-- firing keeps its streak and whether it was delivered.
INSERT INTO notification_state
    (channel, alert_key, rule, status, first_fired_at, last_seen_at, notified_at, cleared_at)
SELECT $channel, k.alert_key, k.rule, 'firing', $now, $now, NULL, NULL
FROM (SELECT unnest($keys) AS alert_key, unnest($rules) AS rule) k
ON CONFLICT (channel, alert_key) DO UPDATE SET
    rule = excluded.rule,
    first_fired_at = CASE WHEN notification_state.status = 'firing' THEN notification_state.first_fired_at
                          ELSE excluded.first_fired_at END,
    notified_at = CASE WHEN notification_state.status = 'firing' THEN notification_state.notified_at END,
    status = 'firing',
    last_seen_at = excluded.last_seen_at,
    cleared_at = NULL;

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

-- name: notification_record
-- One delivery (a message to one channel), whatever its outcome. The id is max + 1, taken under
-- the warehouse's write lock (one writing process per warehouse file).
INSERT INTO notification_deliveries
    (delivery_id, run_id, channel, kind, rule_keys, subject, started_at, sent_at, outcome, attempts, error)
SELECT coalesce(max(delivery_id), 0) + 1, $run_id, $channel, $kind, $rule_keys, $subject, $started_at,
       $sent_at, $outcome, $attempts, $error
FROM notification_deliveries
RETURNING delivery_id;

-- name: notification_mark_sent
-- The channel accepted a message carrying these keys: their current streak is delivered.
UPDATE notification_state
SET notified_at = $now
WHERE channel = $channel AND status = 'firing' AND list_contains($keys, alert_key);

