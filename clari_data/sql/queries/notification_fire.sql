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
