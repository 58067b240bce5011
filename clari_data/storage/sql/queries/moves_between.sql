-- How each member's numbers moved between two exports of a forecast and period, reconstructed
-- from the cell history: a number is the user's amount in the latest week of each export.
-- is_significant applies the change rule (views/04_change_rule.sql) with the given thresholds.
-- The latest week at each export is found first (one narrow pass over the period's versions);
-- joining on it lets DuckDB skip the stored row groups that hold only older weeks.
WITH weeks AS (
    SELECT
        max(time_frame_id) FILTER (WHERE valid_from <= $from_export
                                     AND (valid_to IS NULL OR valid_to > $from_export)) AS from_week,
        max(time_frame_id) FILTER (WHERE valid_from <= $to_export
                                     AND (valid_to IS NULL OR valid_to > $to_export)) AS to_week
    FROM cell_versions
    WHERE forecast_id = $forecast_id AND time_period = $time_period
      AND valid_from <= greatest($from_export, $to_export)
      AND (valid_to IS NULL OR valid_to > least($from_export, $to_export))
),
state_from AS (
    SELECT c.user_id, c.field_id, cell_amount(c.forecast_value, c.quota_value, c.aggregation_total) AS amount
    FROM cells_at_export($forecast_id, $time_period, $from_export) c
    JOIN weeks w ON c.time_frame_id = w.from_week
),
state_to AS (
    SELECT c.user_id, c.field_id, cell_amount(c.forecast_value, c.quota_value, c.aggregation_total) AS amount
    FROM cells_at_export($forecast_id, $time_period, $to_export) c
    JOIN weeks w ON c.time_frame_id = w.to_week
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
         THEN 100 * (coalesce(t.amount, 0) - s.amount) / abs(s.amount) END AS change_pct,
    is_significant_change(s.amount, coalesce(t.amount, 0) - coalesce(s.amount, 0), $change_pct, $change_min_amount)
        AS is_significant
FROM state_from s
JOIN state_to t USING (user_id, field_id)
LEFT JOIN user_directory u ON u.user_id = s.user_id
LEFT JOIN fields f ON f.field_id = s.field_id
WHERE coalesce(t.amount, 0) <> coalesce(s.amount, 0)
  AND in_members(s.user_id, u.manager_user_id, $team, $reps)
ORDER BY abs(coalesce(t.amount, 0) - coalesce(s.amount, 0)) DESC;
