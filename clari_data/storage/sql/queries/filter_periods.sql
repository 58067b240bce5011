-- Periods of a forecast with data at $as_of (NULL: now), newest first, and whether each had ended
-- by the export shown then (the newest taken at or before $as_of): taken, or confirmed by an
-- identical export (export_confirmations) by then, after the period's last day, as
-- forecast_accuracy_at has it.
WITH shown AS (
    SELECT export_id, time_period, exported_at
    FROM exports
    WHERE forecast_id = $forecast_id AND ($as_of IS NULL OR exported_at <= $as_of)
    QUALIFY row_number() OVER (PARTITION BY time_period ORDER BY export_id DESC) = 1
)
SELECT
    e.time_period,
    p.start_date,
    p.end_date,
    coalesce(p.end_date < CAST(greatest(e.exported_at, k.confirmed_at) AS DATE), false) AS has_ended
FROM shown e
LEFT JOIN export_confirmations k ON k.export_id = e.export_id AND ($as_of IS NULL OR k.confirmed_at <= $as_of)
LEFT JOIN time_periods p ON p.time_period_id = e.time_period
ORDER BY e.time_period DESC;
