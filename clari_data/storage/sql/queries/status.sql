-- Freshness and the state of the last refreshes: one row.
SELECT
    -- Confirmed current by a successful attempt, or loaded (exports may be loaded without a run).
    (SELECT max(t) FROM (
        SELECT max(finished_at) AS t FROM export_attempts WHERE status IN ('loaded', 'unchanged', 'skipped')
        UNION ALL SELECT max(loaded_at) FROM exports)) AS fresh_at,
    (SELECT coalesce(max(export_id), 0) FROM exports) AS data_version,
    (SELECT outcome FROM runs WHERE outcome <> 'running' ORDER BY run_id DESC LIMIT 1) AS last_outcome,
    (SELECT error FROM runs WHERE outcome <> 'running' ORDER BY run_id DESC LIMIT 1) AS last_error,
    (SELECT finished_at FROM runs WHERE outcome <> 'running' ORDER BY run_id DESC LIMIT 1) AS last_finished_at,
    (SELECT count(*) FROM runs WHERE outcome = 'running') AS runs_in_progress;
