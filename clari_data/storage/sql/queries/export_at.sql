-- The export a forecast and period show at $as_of: the newest taken at or before it (NULL: the
-- latest), and whether it is their latest (whose numbers the current_role_values table holds).
-- One row always; its columns are NULL when there was no export yet.
WITH shown AS (
    SELECT
        export_id,
        exported_at,
        export_id = (SELECT max(export_id) FROM exports
                     WHERE forecast_id = $forecast_id AND time_period = $time_period) AS is_latest
    FROM exports
    WHERE forecast_id = $forecast_id AND time_period = $time_period
      AND ($as_of IS NULL OR exported_at <= $as_of)
    ORDER BY export_id DESC
    LIMIT 1
)
SELECT s.export_id, s.exported_at, s.is_latest
FROM (SELECT 1) AS one
LEFT JOIN shown s ON true;
