-- Coverage of each member of the selection: the chosen reps, else the chosen team's direct
-- reports, else everyone.
SELECT *
FROM pipeline_coverage
WHERE forecast_id = $forecast_id AND time_period = $time_period
  AND CASE WHEN len($reps) > 0 THEN list_contains($reps, user_id)
           WHEN $team IS NOT NULL THEN manager_user_id = $team
           ELSE true END
ORDER BY is_manager DESC, coverage_ratio NULLS LAST, user_name;
