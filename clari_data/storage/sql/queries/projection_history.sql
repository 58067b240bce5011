-- Every ended quarter's call and final actual per person and week of a forecast
-- (projection_history), with closed won at that week, for comparing estimators in Python.
SELECT h.*, v.closed_amount
FROM projection_history h
JOIN week_numbers w ON w.time_period = h.time_period AND w.week_number = h.week_number
JOIN current_role_values v ON v.forecast_id = h.forecast_id AND v.time_period = h.time_period
                          AND v.time_frame_id = w.time_frame_id AND v.user_id = h.user_id
WHERE h.forecast_id = $forecast_id
ORDER BY h.time_period, h.user_id, h.week_number;
