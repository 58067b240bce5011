-- Current cells pivoted by the role their field plays ([fields] in clari.toml), one row per
-- forecast, period, week and user. The commit amount is the manager's adjustment where there is
-- one, else the user's own call.
--
-- live_role_values is the pivot itself. Pivoting on every read was too slow at a large tenant
-- (docs/performance/index.md), so each load stores its forecast and period's pivot in the table
-- current_role_values (load.sql: stage_role_values ... insert_role_values), and the warehouse
-- rebuilds it whole when the field roles change. role_values and latest_week_values read that table.
CREATE OR REPLACE VIEW live_role_values AS
SELECT
    c.forecast_id,
    c.time_period,
    c.time_frame_id,
    c.user_id,
    max(role_amount(r.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total)) FILTER (WHERE r.role = 'commit') AS commit_amount,
    max(c.forecast_value) FILTER (WHERE r.role = 'commit') AS commit_call_amount,
    max(c.adjustment_value) FILTER (WHERE r.role = 'commit') AS commit_adjustment_amount,
    bool_or(c.is_updated) FILTER (WHERE r.role = 'commit') AS commit_is_updated,
    max(role_amount(r.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total)) FILTER (WHERE r.role = 'best_case') AS best_case_amount,
    max(role_amount(r.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total)) FILTER (WHERE r.role = 'quota') AS quota_amount,
    max(role_amount(r.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total)) FILTER (WHERE r.role = 'closed') AS closed_amount,
    max(role_amount(r.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total)) FILTER (WHERE r.role = 'pipeline') AS pipeline_amount
FROM current_cells c
JOIN field_roles r ON r.field_id = c.field_id
GROUP BY ALL;

CREATE OR REPLACE VIEW role_values AS
SELECT * EXCLUDE (is_latest_week)
FROM current_role_values;

-- The latest week of the latest export of each forecast and period.
CREATE OR REPLACE VIEW latest_week_values AS
SELECT * EXCLUDE (is_latest_week)
FROM current_role_values
WHERE is_latest_week;
