-- Everyone in the latest export of a forecast and period, with their place in the hierarchy.
SELECT DISTINCT u.user_id, u.name AS user_name, u.is_manager, u.manager_user_id, u.hierarchy_name
FROM latest_week_values v
JOIN user_directory u USING (user_id)
WHERE v.forecast_id = $forecast_id AND v.time_period = $time_period
ORDER BY u.is_manager DESC, u.name, u.user_id;
