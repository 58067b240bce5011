-- One delivery (a message to one channel), whatever its outcome. The id is max + 1: callers hold
-- notify.py's write lock (one writing process per warehouse file).
INSERT INTO notification_deliveries
    (delivery_id, run_id, channel, kind, rule_keys, subject, started_at, sent_at, outcome, attempts, error)
SELECT coalesce(max(delivery_id), 0) + 1, $run_id, $channel, $kind, $rule_keys, $subject, $started_at,
       $sent_at, $outcome, $attempts, $error
FROM notification_deliveries
RETURNING delivery_id;
