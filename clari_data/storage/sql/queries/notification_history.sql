-- The latest notification deliveries, newest first, for /data.
SELECT delivery_id, run_id, channel, kind, outcome, subject, len(rule_keys) AS alerts, attempts, started_at, sent_at,
       error, rule_keys
FROM notification_deliveries
ORDER BY delivery_id DESC
LIMIT $limit;
