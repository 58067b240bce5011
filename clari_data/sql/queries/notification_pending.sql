-- Firing keys of a channel whose streak has not been delivered yet: what its next message carries.
SELECT alert_key
FROM notification_state
WHERE channel = $channel AND status = 'firing' AND notified_at IS NULL
ORDER BY alert_key;
