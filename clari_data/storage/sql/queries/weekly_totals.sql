-- The selection's headline numbers week by week, at an export ($export_id, NULL: the latest);
-- with $latest_week_only the latest week alone (the headline). The rows summed never mix a
-- manager with their reps (a manager's numbers are the team's roll-up): see in_headline. The last
-- week is the headline. A past export's role value versions are read for $users only, the headline's
-- (queries/headline_users.sql).
WITH weeks AS (
    SELECT
        w.week_number,
        v.time_frame_id,
        w.start_date,
        count(*) AS users,
        sum(v.quota_amount) AS quota_amount,
        sum(v.closed_amount) AS closed_amount,
        sum(v.commit_amount) AS commit_amount,
        sum(v.best_case_amount) AS best_case_amount,
        sum(v.pipeline_amount) AS pipeline_amount
    FROM role_values_at($forecast_id, $time_period, $export_id, users := $users,
                        latest_week_only := $latest_week_only, week := $week) v
    JOIN user_directory u USING (user_id)
    JOIN week_numbers w ON w.time_period = v.time_period AND w.time_frame_id = v.time_frame_id
    WHERE in_headline(v.user_id, u.manager_user_id, $team, $reps)
    GROUP BY ALL
)
SELECT
    *,
    pipeline_amount - closed_amount AS open_pipeline_amount,
    quota_amount - closed_amount AS remaining_quota_amount,
    coverage_ratio(pipeline_amount - closed_amount, quota_amount - closed_amount) AS coverage_ratio
FROM weeks
ORDER BY week_number;
