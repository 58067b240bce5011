SELECT run_id, trigger, requested_by, started_at, finished_at, outcome, exports_loaded, rows_loaded,
       changes_detected, error
FROM runs
ORDER BY run_id DESC
LIMIT $limit;
