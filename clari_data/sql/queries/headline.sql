-- The selection's numbers in the latest week. Managers' numbers are roll-ups of their teams, so
-- the rows summed never mix a manager with their reps: the chosen reps, else the chosen team's
-- manager, else the top of the hierarchy.
SELECT
    count(*) AS users,
    sum(v.quota_amount) AS quota_amount,
    sum(v.closed_amount) AS closed_amount,
    sum(v.commit_amount) AS commit_amount,
    sum(v.best_case_amount) AS best_case_amount,
    sum(v.pipeline_amount) AS pipeline_amount,
    max(v.time_frame_id) AS time_frame_id
FROM latest_week_values v
JOIN user_directory u USING (user_id)
WHERE v.forecast_id = $forecast_id AND v.time_period = $time_period
  AND in_headline(v.user_id, u.manager_user_id, $team, $reps);
