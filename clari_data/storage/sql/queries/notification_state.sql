-- The alert keys a channel knows, with whether their current firing streak was delivered.
SELECT alert_key, rule, status, first_fired_at, last_seen_at, notified_at, cleared_at
FROM notification_state
WHERE channel = $channel
ORDER BY alert_key;
