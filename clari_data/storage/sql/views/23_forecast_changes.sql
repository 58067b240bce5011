-- Every move of a number between consecutive exports, whatever its size.
CREATE OR REPLACE VIEW forecast_moves AS
SELECT
    c.forecast_id,
    c.time_period,
    c.user_id,
    u.name AS user_name,
    coalesce(u.is_manager, false) AS is_manager,
    u.parent_hierarchy_name AS manager,
    u.manager_user_id,
    c.field_id,
    f.field_name,
    c.previous_amount,
    c.current_amount,
    c.change_amount,
    c.change_pct,
    pe.exported_at AS previous_export_at,
    ce.exported_at AS detected_at,
    c.is_significant,
    c.export_id,
    c.previous_export_id
FROM changes c
JOIN exports ce ON ce.export_id = c.export_id
JOIN exports pe ON pe.export_id = c.previous_export_id
LEFT JOIN user_directory u ON u.user_id = c.user_id
LEFT JOIN fields f ON f.field_id = c.field_id;

-- The changes that count (is_significant_change, 04_change_rule.sql), with the thresholds
-- configured when they were detected.
CREATE OR REPLACE VIEW forecast_changes AS
SELECT * EXCLUDE (is_significant)
FROM forecast_moves
WHERE is_significant;
