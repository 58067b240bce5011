-- The projection of each member of the selection (in_members) at the latest week of an export
-- ($export_id, NULL: the latest), with names and the manager's team for the table.
SELECT
    p.*,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id,
    in_headline(p.user_id, u.manager_user_id, $team, $reps) AS in_headline
FROM projection_at($forecast_id, $time_period, $export_id, latest_week_only := true, week := $week) p
LEFT JOIN user_directory u ON u.user_id = p.user_id
WHERE in_members(p.user_id, u.manager_user_id, $team, $reps)
ORDER BY is_manager DESC, user_name;
