-- The leaderboard rows of the selection's members (in_members) at an export ($export_id, NULL: the latest).
SELECT *
FROM rep_performance_at($forecast_id, $time_period, $export_id, week := $week)
WHERE in_members(user_id, manager_user_id, $team, $reps)
ORDER BY is_manager DESC, attainment_pct DESC NULLS LAST, user_name;
