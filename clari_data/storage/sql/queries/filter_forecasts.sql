-- Forecasts with at least one loaded export.
SELECT DISTINCT forecast_id FROM exports ORDER BY forecast_id;
