-- Coverage of each member of the selection (in_members: the chosen reps, else a team, else everyone).
SELECT *
FROM pipeline_coverage
WHERE forecast_id = $forecast_id AND time_period = $time_period
  AND in_members(user_id, manager_user_id, $team, $reps)
ORDER BY is_manager DESC, coverage_ratio NULLS LAST, user_name;
