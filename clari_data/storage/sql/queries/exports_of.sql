-- Every export of a forecast and period, newest first (the sidebar's export picker, the waterfall's start).
SELECT export_id, exported_at
FROM exports
WHERE forecast_id = $forecast_id AND time_period = $time_period
ORDER BY export_id DESC;
