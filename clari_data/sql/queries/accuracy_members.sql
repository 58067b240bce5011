-- Week-by-week accuracy of every member of the selection in an ended period, with the headline
-- rows (what headline.sql sums) flagged so the page can aggregate them without double counting.
SELECT
    a.*,
    CASE WHEN len($reps) > 0 THEN list_contains($reps, a.user_id)
         WHEN $team IS NOT NULL THEN a.user_id = $team
         ELSE a.manager_user_id IS NULL END AS in_headline
FROM forecast_accuracy a
WHERE a.forecast_id = $forecast_id AND a.time_period = $time_period
  AND CASE WHEN len($reps) > 0 THEN list_contains($reps, a.user_id)
           WHEN $team IS NOT NULL THEN a.manager_user_id = $team OR a.user_id = $team
           ELSE true END
ORDER BY a.is_manager DESC, a.user_name, a.week_number;
