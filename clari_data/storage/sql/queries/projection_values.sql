-- The selection's role values to project at an export ($export_id, NULL: the latest): the members
-- (in_members) at the latest week with $latest_week_only, else the headline's people (in_headline)
-- week by week; a past export is pivoted for $users only.
SELECT
    v.forecast_id,
    v.time_period,
    v.time_frame_id,
    w.week_number,
    w.start_date,
    v.user_id,
    v.commit_amount AS call_amount,
    v.closed_amount,
    v.quota_amount,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id
FROM role_values_at($forecast_id, $time_period, $export_id, users := $users, latest_week_only := $latest_week_only,
                    week := $week) v
JOIN week_numbers w ON w.time_period = v.time_period AND w.time_frame_id = v.time_frame_id
LEFT JOIN user_directory u ON u.user_id = v.user_id
WHERE CASE WHEN $latest_week_only THEN in_members(v.user_id, u.manager_user_id, $team, $reps)
           ELSE in_headline(v.user_id, u.manager_user_id, $team, $reps) END
ORDER BY w.week_number, is_manager DESC, user_name;
