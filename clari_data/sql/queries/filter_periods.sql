-- Periods of a forecast with data, newest first, and whether each has ended.
SELECT
    e.time_period,
    p.start_date,
    p.end_date,
    coalesce(p.end_date < CAST(e.exported_at AS DATE), false) AS has_ended
FROM latest_exports e
LEFT JOIN time_periods p ON p.time_period_id = e.time_period
WHERE e.forecast_id = $forecast_id
ORDER BY e.time_period DESC;
