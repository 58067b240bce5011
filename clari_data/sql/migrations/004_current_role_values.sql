-- Current values by role, kept as a table instead of computed on every read.
--
-- Every page reads `role_values` or `latest_week_values`, and at a large tenant (2,000 users,
-- 8 fields, 14 weeks, a quarter of daily history) pivoting the current cells on each read cost
-- 15-35 ms per query (bench/, README "Performance"). The pivot now runs once per load, for the
-- loaded forecast and period only (load.sql: stage_role_values ... insert_role_values), and again
-- in full when the field roles change (Warehouse._sync_roles). Both views keep their columns and
-- meaning; `live_role_values` is the pivot itself (the former `role_values`), and
-- `current_role_values` marks the latest week of each forecast and period.

CREATE TABLE current_role_values AS
SELECT *, time_frame_id = max(time_frame_id) OVER (PARTITION BY forecast_id, time_period) AS is_latest_week
FROM role_values
ORDER BY forecast_id, time_period, time_frame_id, user_id;

ALTER VIEW role_values RENAME TO live_role_values;

CREATE VIEW role_values AS
SELECT * EXCLUDE (is_latest_week)
FROM current_role_values;

CREATE OR REPLACE VIEW latest_week_values AS
SELECT * EXCLUDE (is_latest_week)
FROM current_role_values
WHERE is_latest_week;
