-- Each user's attainment and call against quota in the latest week, at an export (NULL: the
-- latest), with a status from the configured cut-offs ([alerts] at_risk_below_pct and
-- on_track_from_pct, kept in the one-row table rep_status_cutoffs by the warehouse at every
-- start). The view rep_performance is every forecast and period at its latest.
CREATE OR REPLACE MACRO rep_performance_at(forecast, period, export, week := NULL) AS TABLE
WITH perf AS (
    SELECT
        v.*,
        100 * v.closed_amount / nullif(v.quota_amount, 0) AS attainment_pct,
        100 * v.commit_amount / nullif(v.quota_amount, 0) AS forecast_to_quota_pct
    FROM role_values_at(forecast, period, export, latest_week_only := true, week := week) v
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
         WHEN p.forecast_to_quota_pct < k.at_risk_below_pct THEN 'at_risk'
         WHEN p.forecast_to_quota_pct >= k.on_track_from_pct THEN 'on_track'
         ELSE 'watch' END AS status,
    coalesce(p.commit_is_updated, false) AS is_updated,
    p.commit_adjustment_amount - p.commit_call_amount AS adjustment_delta
FROM perf p
CROSS JOIN rep_status_cutoffs k
LEFT JOIN user_directory u USING (user_id);

CREATE OR REPLACE VIEW rep_performance AS
SELECT r.*
FROM latest_exports e, rep_performance_at(e.forecast_id, e.time_period, NULL) r;
