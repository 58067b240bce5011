-- The leaderboard rows of the selection's members (in_members).
SELECT *
FROM rep_performance
WHERE forecast_id = $forecast_id AND time_period = $time_period
  AND in_members(user_id, manager_user_id, $team, $reps)
ORDER BY is_manager DESC, attainment_pct DESC NULLS LAST, user_name;
