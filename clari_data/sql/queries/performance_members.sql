-- The leaderboard rows of the selection's members (see coverage_members.sql).
SELECT *
FROM rep_performance
WHERE forecast_id = $forecast_id AND time_period = $time_period
  AND CASE WHEN len($reps) > 0 THEN list_contains($reps, user_id)
           WHEN $team IS NOT NULL THEN manager_user_id = $team
           ELSE true END
ORDER BY is_manager DESC, attainment_pct DESC NULLS LAST, user_name;
