-- The export a forecast and period show at $as_of (the newest taken at or before it; NULL: the
-- latest), the one before it, the newest one at least $days older (the comparison point for
-- "over the last week"; NULL if none is that old), and the first, each with its time.
WITH ex AS (
    SELECT export_id, exported_at FROM exports
    WHERE forecast_id = $forecast_id AND time_period = $time_period
      AND ($as_of IS NULL OR exported_at <= $as_of)
),
shown AS (
    SELECT export_id, exported_at FROM ex ORDER BY export_id DESC LIMIT 1
),
previous AS (
    SELECT export_id, exported_at FROM ex WHERE export_id < (SELECT export_id FROM shown)
    ORDER BY export_id DESC LIMIT 1
),
week_ago AS (
    SELECT export_id, exported_at FROM ex
    WHERE exported_at <= (SELECT exported_at FROM shown) - to_days(CAST($days AS INTEGER))
    ORDER BY export_id DESC LIMIT 1
),
first AS (
    SELECT export_id, exported_at FROM ex ORDER BY export_id LIMIT 1
)
SELECT
    (SELECT export_id FROM shown) AS latest_export_id,
    (SELECT exported_at FROM shown) AS latest_exported_at,
    (SELECT export_id FROM previous) AS previous_export_id,
    (SELECT exported_at FROM previous) AS previous_exported_at,
    (SELECT export_id FROM week_ago) AS week_ago_export_id,
    (SELECT exported_at FROM week_ago) AS week_ago_exported_at,
    (SELECT export_id FROM first) AS first_export_id,
    (SELECT exported_at FROM first) AS first_exported_at;
