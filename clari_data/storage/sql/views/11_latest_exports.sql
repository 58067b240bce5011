-- The newest export of each forecast and period.
CREATE OR REPLACE VIEW latest_exports AS
SELECT *
FROM exports
QUALIFY row_number() OVER (PARTITION BY forecast_id, time_period ORDER BY export_id DESC) = 1;
