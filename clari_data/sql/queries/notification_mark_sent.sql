-- The channel accepted a message carrying these keys: their current streak is delivered.
UPDATE notification_state
SET notified_at = $now
WHERE channel = $channel AND status = 'firing' AND list_contains($keys, alert_key);
