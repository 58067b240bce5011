-- Week-by-week accuracy of every member of the selection in a period that had ended at an export
-- ($export_id, NULL: the latest), with the headline rows (what the headline sums, in_headline)
-- flagged so the page can aggregate them without double counting, and each week's first day.
SELECT
    a.*,
    w.start_date,
    in_headline(a.user_id, a.manager_user_id, $team, $reps) AS in_headline
FROM forecast_accuracy_at($forecast_id, $time_period, $export_id, week := $week) a
JOIN week_numbers w ON w.time_period = a.time_period AND w.time_frame_id = a.time_frame_id
WHERE in_members(a.user_id, a.manager_user_id, $team, $reps)
ORDER BY a.is_manager DESC, a.user_name, a.week_number;
