-- Analytics views: the public interface for the pages and for analysts who open the file.
-- Formulas are documented in the README ("Analytics views").

-- Users with their place in the hierarchy. A manager is a user whose role is someone's parent
-- role; manager_user_id is the user holding a user's parent role.
CREATE VIEW user_directory AS
SELECT
    u.*,
    EXISTS (SELECT 1 FROM users r WHERE r.parent_hierarchy_id = u.hierarchy_id) AS is_manager,
    (SELECT min(m.user_id) FROM users m WHERE m.hierarchy_id = u.parent_hierarchy_id) AS manager_user_id
FROM users u;

CREATE VIEW latest_exports AS
SELECT *
FROM exports
QUALIFY row_number() OVER (PARTITION BY forecast_id, time_period ORDER BY export_id DESC) = 1;

-- Weeks of each period numbered from 1 in timeFrameId order (Clari sends them unordered).
CREATE VIEW week_numbers AS
SELECT
    time_period_id AS time_period,
    time_frame_id,
    start_date,
    end_date,
    row_number() OVER (PARTITION BY time_period_id ORDER BY time_frame_id) AS week_number
FROM time_frames;

-- Every cell as the latest export of its forecast and period has it.
CREATE VIEW current_cells AS
SELECT * EXCLUDE (valid_to)
FROM cell_versions
WHERE valid_to IS NULL;

-- Current cells pivoted by the role their field plays ([fields] in clari.toml), one row per
-- forecast, period, week and user. The commit amount is the manager's adjustment where there is
-- one, else the user's own call.
CREATE VIEW role_values AS
SELECT
    c.forecast_id,
    c.time_period,
    c.time_frame_id,
    c.user_id,
    max(coalesce(c.adjustment_value, c.forecast_value)) FILTER (WHERE r.role = 'commit') AS commit_amount,
    max(c.forecast_value) FILTER (WHERE r.role = 'commit') AS commit_call_amount,
    max(c.adjustment_value) FILTER (WHERE r.role = 'commit') AS commit_adjustment_amount,
    bool_or(c.is_updated) FILTER (WHERE r.role = 'commit') AS commit_is_updated,
    max(coalesce(c.adjustment_value, c.forecast_value)) FILTER (WHERE r.role = 'best_case') AS best_case_amount,
    max(coalesce(c.quota_value, c.forecast_value, c.aggregation_total)) FILTER (WHERE r.role = 'quota') AS quota_amount,
    max(coalesce(c.aggregation_total, c.forecast_value)) FILTER (WHERE r.role = 'closed') AS closed_amount,
    max(coalesce(c.aggregation_total, c.forecast_value)) FILTER (WHERE r.role = 'pipeline') AS pipeline_amount
FROM current_cells c
JOIN field_roles r ON r.field_id = c.field_id
GROUP BY ALL;

-- The latest week of the latest export of each forecast and period.
CREATE VIEW latest_week_values AS
SELECT *
FROM role_values
QUALIFY time_frame_id = max(time_frame_id) OVER (PARTITION BY forecast_id, time_period);

CREATE VIEW pipeline_coverage AS
SELECT
    v.forecast_id,
    v.time_period,
    v.time_frame_id,
    v.user_id,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id,
    v.quota_amount,
    v.closed_amount,
    v.pipeline_amount,
    v.pipeline_amount - v.closed_amount AS open_pipeline_amount,
    v.quota_amount - v.closed_amount AS remaining_quota_amount,
    CASE WHEN v.quota_amount - v.closed_amount > 0
         THEN (v.pipeline_amount - v.closed_amount) / (v.quota_amount - v.closed_amount) END AS coverage_ratio
FROM latest_week_values v
LEFT JOIN user_directory u USING (user_id);

CREATE VIEW rep_performance AS
WITH perf AS (
    SELECT
        v.*,
        100 * v.closed_amount / nullif(v.quota_amount, 0) AS attainment_pct,
        100 * v.commit_amount / nullif(v.quota_amount, 0) AS forecast_to_quota_pct
    FROM latest_week_values v
)
SELECT
    p.forecast_id,
    p.time_period,
    p.time_frame_id,
    p.user_id,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id,
    p.quota_amount,
    p.closed_amount,
    p.commit_amount AS forecast_amount,
    p.best_case_amount,
    p.pipeline_amount,
    p.attainment_pct,
    p.forecast_to_quota_pct,
    CASE WHEN p.forecast_to_quota_pct IS NULL THEN NULL
         WHEN p.forecast_to_quota_pct < 70 THEN 'at_risk'
         WHEN p.forecast_to_quota_pct >= 90 THEN 'on_track'
         ELSE 'watch' END AS status,
    coalesce(p.commit_is_updated, false) AS is_updated,
    p.commit_adjustment_amount - p.commit_call_amount AS adjustment_delta
FROM perf p
LEFT JOIN user_directory u USING (user_id);

-- Periods that have ended: the latest export of the period was taken after its last day, so its
-- closed amount is final.
CREATE VIEW forecast_accuracy AS
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

-- Every move of a number between consecutive exports, whatever its size.
CREATE VIEW forecast_moves AS
SELECT
    c.forecast_id,
    c.time_period,
    c.user_id,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id,
    c.field_id,
    f.field_name,
    c.previous_amount,
    c.current_amount,
    c.change_amount,
    c.change_pct,
    pe.exported_at AS previous_export_at,
    ce.exported_at AS detected_at,
    c.is_significant,
    c.export_id,
    c.previous_export_id
FROM changes c
JOIN exports ce ON ce.export_id = c.export_id
JOIN exports pe ON pe.export_id = c.previous_export_id
LEFT JOIN user_directory u ON u.user_id = c.user_id
LEFT JOIN fields f ON f.field_id = c.field_id;

-- The changes that count: at least change_pct and at least change_min_amount (from zero, by
-- amount alone), as configured when they were detected.
CREATE VIEW forecast_changes AS
SELECT * EXCLUDE (is_significant)
FROM forecast_moves
WHERE is_significant;
