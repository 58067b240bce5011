-- Week-by-week accuracy of every member of the selection in an ended period, with the headline
-- rows (what the headline sums, in_headline) flagged so the page can aggregate them without double counting.
SELECT
    a.*,
    in_headline(a.user_id, a.manager_user_id, $team, $reps) AS in_headline
FROM forecast_accuracy a
WHERE a.forecast_id = $forecast_id AND a.time_period = $time_period
  AND in_members(a.user_id, a.manager_user_id, $team, $reps)
ORDER BY a.is_manager DESC, a.user_name, a.week_number;
