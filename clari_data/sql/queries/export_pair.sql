-- The latest export of a forecast and period, the one before it, and the newest one at least
-- $days old (the comparison point for "over the last week").
WITH ex AS (
    SELECT export_id, exported_at FROM exports
    WHERE forecast_id = $forecast_id AND time_period = $time_period
)
SELECT
    (SELECT max(export_id) FROM ex) AS latest_export_id,
    (SELECT max(export_id) FROM ex WHERE export_id < (SELECT max(export_id) FROM ex)) AS previous_export_id,
    (SELECT max(export_id) FROM ex
      WHERE exported_at <= (SELECT max(exported_at) FROM ex) - to_days(CAST($days AS INTEGER))) AS week_ago_export_id,
    (SELECT min(export_id) FROM ex) AS first_export_id;
