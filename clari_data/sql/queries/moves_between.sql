-- How each member's numbers moved between two exports of a forecast and period, reconstructed
-- from the cell history: a number is the user's amount in the latest week of each export.
WITH state_from AS (
    SELECT user_id, field_id, cell_amount(forecast_value, quota_value, aggregation_total) AS amount
    FROM cell_versions
    WHERE forecast_id = $forecast_id AND time_period = $time_period
      AND valid_from <= $from_export AND (valid_to IS NULL OR valid_to > $from_export)
    QUALIFY time_frame_id = max(time_frame_id) OVER ()
),
state_to AS (
    SELECT user_id, field_id, cell_amount(forecast_value, quota_value, aggregation_total) AS amount
    FROM cell_versions
    WHERE forecast_id = $forecast_id AND time_period = $time_period
      AND valid_from <= $to_export AND (valid_to IS NULL OR valid_to > $to_export)
    QUALIFY time_frame_id = max(time_frame_id) OVER ()
)
SELECT
    s.user_id,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    s.field_id,
    f.field_name,
    s.amount AS previous_amount,
    t.amount AS current_amount,
    coalesce(t.amount, 0) - coalesce(s.amount, 0) AS change_amount,
    CASE WHEN coalesce(s.amount, 0) <> 0
         THEN 100 * (coalesce(t.amount, 0) - s.amount) / abs(s.amount) END AS change_pct
FROM state_from s
JOIN state_to t USING (user_id, field_id)
LEFT JOIN user_directory u ON u.user_id = s.user_id
LEFT JOIN fields f ON f.field_id = s.field_id
WHERE coalesce(t.amount, 0) <> coalesce(s.amount, 0)
  AND CASE WHEN len($reps) > 0 THEN list_contains($reps, s.user_id)
           WHEN $team IS NOT NULL THEN u.manager_user_id = $team OR s.user_id = $team
           ELSE true END
ORDER BY abs(coalesce(t.amount, 0) - coalesce(s.amount, 0)) DESC;
