-- Periods that have ended: the latest export of the period was taken after its last day, so its
-- closed amount is final.
CREATE OR REPLACE VIEW forecast_accuracy AS
WITH ended AS (
    SELECT e.forecast_id, e.time_period
    FROM latest_exports e
    JOIN time_periods p ON p.time_period_id = e.time_period
    WHERE p.end_date < CAST(e.exported_at AS DATE)
),
actuals AS (
    SELECT forecast_id, time_period, user_id, closed_amount AS actual_amount
    FROM latest_week_values
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
FROM role_values v
JOIN ended USING (forecast_id, time_period)
JOIN actuals a USING (forecast_id, time_period, user_id)
JOIN week_numbers w ON w.time_period = v.time_period AND w.time_frame_id = v.time_frame_id
LEFT JOIN user_directory u ON u.user_id = v.user_id;
