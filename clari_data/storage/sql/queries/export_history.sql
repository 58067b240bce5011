-- Every export attempt, newest first, with what it loaded.
SELECT
    a.run_id, a.forecast_id, coalesce(a.time_period, a.requested_period) AS time_period, a.job_id,
    a.started_at, a.finished_at, a.status, a.error, a.warnings,
    e.export_id, e.exported_at, e.entries, e.cells, e.users, e.weeks,
    e.cells_added, e.cells_changed, e.cells_removed, e.changes_detected
FROM export_attempts a
LEFT JOIN exports e ON e.export_id = a.export_id AND a.status = 'loaded'
ORDER BY a.started_at DESC
LIMIT $limit;
