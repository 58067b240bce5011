-- Keys of a channel that fired before and do not fire now have cleared.
UPDATE notification_state
SET status = 'cleared', cleared_at = $now
WHERE channel = $channel AND status = 'firing' AND NOT list_contains($keys, alert_key);
