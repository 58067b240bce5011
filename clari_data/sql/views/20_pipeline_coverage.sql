-- Coverage of each user in the latest week (coverage_ratio: 05_coverage.sql).
CREATE OR REPLACE VIEW pipeline_coverage AS
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
FROM latest_week_values v
LEFT JOIN user_directory u USING (user_id);
