-- Coverage of each member of the selection (in_members: the chosen reps, else a team, else
-- everyone) at an export ($export_id, NULL: the latest).
SELECT *
FROM pipeline_coverage_at($forecast_id, $time_period, $export_id, week := $week)
WHERE in_members(user_id, manager_user_id, $team, $reps)
ORDER BY is_manager DESC, coverage_ratio NULLS LAST, user_name;
