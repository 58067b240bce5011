-- Some users' role amounts in the latest week of an export ($export_id, NULL: the latest): the
-- start and the end of the /changes waterfall.
SELECT user_id, commit_amount, best_case_amount, pipeline_amount, closed_amount
FROM role_values_at($forecast_id, $time_period, $export_id, users := $users, latest_week_only := true,
                    week := $week)
WHERE list_contains($users, user_id);
