-- Coverage of each user in the latest week (coverage_ratio: 05_coverage.sql), at an export
-- (NULL: the latest); the view pipeline_coverage is every forecast and period at its latest.
CREATE OR REPLACE MACRO pipeline_coverage_at(forecast, period, export, week := NULL) AS TABLE
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
    coverage_ratio(v.pipeline_amount - v.closed_amount, v.quota_amount - v.closed_amount) AS coverage_ratio
FROM role_values_at(forecast, period, export, latest_week_only := true, week := week) v
LEFT JOIN user_directory u USING (user_id);

CREATE OR REPLACE VIEW pipeline_coverage AS
SELECT c.*
FROM latest_exports e, pipeline_coverage_at(e.forecast_id, e.time_period, NULL) c;
