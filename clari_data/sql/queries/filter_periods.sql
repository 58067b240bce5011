-- Periods of a forecast with data at $as_of (NULL: now), newest first, and whether each had ended
-- by the export shown then (the newest taken at or before $as_of).
WITH shown AS (
    SELECT time_period, exported_at
    FROM exports
    WHERE forecast_id = $forecast_id AND ($as_of IS NULL OR exported_at <= $as_of)
    QUALIFY row_number() OVER (PARTITION BY time_period ORDER BY export_id DESC) = 1
)
SELECT
    e.time_period,
    p.start_date,
    p.end_date,
    coalesce(p.end_date < CAST(e.exported_at AS DATE), false) AS has_ended
FROM shown e
LEFT JOIN time_periods p ON p.time_period_id = e.time_period
ORDER BY e.time_period DESC;
