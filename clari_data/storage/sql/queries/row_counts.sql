SELECT 'exports' AS table_name, count(*) AS rows FROM exports
UNION ALL SELECT 'users', count(*) FROM users
UNION ALL SELECT 'fields', count(*) FROM fields
UNION ALL SELECT 'time_periods', count(*) FROM time_periods
UNION ALL SELECT 'time_frames', count(*) FROM time_frames
UNION ALL SELECT 'cell_versions', count(*) FROM cell_versions
UNION ALL SELECT 'current cells', count(*) FROM cell_versions WHERE valid_to IS NULL
UNION ALL SELECT 'changes', count(*) FROM changes
UNION ALL SELECT 'runs', count(*) FROM runs;
