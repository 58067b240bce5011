-- Accuracy of a period that had ended at an export (NULL: the latest): the export was taken
-- after the period's last day, so its closed amount is final. The view forecast_accuracy is every
-- forecast and period at its latest.
CREATE OR REPLACE MACRO forecast_accuracy_at(forecast, period, export, week := NULL) AS TABLE
WITH ended AS (
    SELECT 1
    FROM export_in_force(forecast, period, export) e
    JOIN time_periods p ON p.time_period_id = e.time_period
    -- taken, or confirmed by an identical export (export_confirmations), after the last day
    LEFT JOIN export_confirmations k ON k.export_id = e.export_id
    WHERE p.end_date < CAST(greatest(e.exported_at, k.confirmed_at) AS DATE)
),
vals AS (
    SELECT * FROM role_values_at(forecast, period, export, week := week)
    WHERE EXISTS (SELECT 1 FROM ended)
),
actuals AS (
    SELECT user_id, closed_amount AS actual_amount
    FROM vals
    WHERE is_latest_week
)
SELECT
    v.forecast_id,
    v.time_period,
    v.user_id,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id,
    w.week_number,
    v.time_frame_id,
    v.commit_amount AS forecast_amount,
    a.actual_amount,
    CASE WHEN a.actual_amount <> 0
         THEN 100 * (1 - abs(v.commit_amount - a.actual_amount) / abs(a.actual_amount)) END AS accuracy_pct,
    CASE WHEN a.actual_amount <> 0
         THEN 100 * (v.commit_amount - a.actual_amount) / abs(a.actual_amount) END AS bias_pct
FROM vals v
JOIN actuals a USING (user_id)
JOIN week_numbers w ON w.time_period = v.time_period AND w.time_frame_id = v.time_frame_id
LEFT JOIN user_directory u ON u.user_id = v.user_id;

CREATE OR REPLACE VIEW forecast_accuracy AS
SELECT a.*
FROM latest_exports e, forecast_accuracy_at(e.forecast_id, e.time_period, NULL) a;
