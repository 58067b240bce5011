-- The latest week an export of a forecast and period carried (NULL: none), looked up before a page
-- reads that export so the page's query can bind it (views/15_role_values_at.sql: role_values_at).
SELECT latest_week_at($forecast_id, $time_period, $export_id) AS time_frame_id;
