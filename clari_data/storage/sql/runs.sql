-- Refresh bookkeeping: runs, the export attempts in them, Clari jobs in flight, the demo clock,
-- and what a refresh asks before it exports. Ids are max + 1 under the warehouse's write lock
-- (one writing process: the file's, or the lake's leading worker), not sequences: after a crash
-- DuckDB replays committed rows from the WAL but not a sequence's state, so a sequence would hand
-- out an id a replayed row holds; and a lake has none. Upserts are MERGE (a lake has no keys for
-- INSERT OR REPLACE), and no INSERT returns its row (a lake refuses RETURNING).

-- name: in_flight_job
SELECT job_id
FROM export_jobs
WHERE forecast_id = $forecast_id AND requested_period IS NOT DISTINCT FROM $requested_period
  AND status = 'in_flight'
ORDER BY queued_at DESC
LIMIT 1;

-- name: remember_job
MERGE INTO export_jobs AS t
USING (SELECT $job_id AS job_id, $forecast_id AS forecast_id, $requested_period AS requested_period,
              $now AS queued_at, 'in_flight' AS status, $now AS updated_at) AS s
ON t.job_id = s.job_id
WHEN MATCHED THEN UPDATE BY NAME
WHEN NOT MATCHED THEN INSERT BY NAME;

-- name: set_job_status
UPDATE export_jobs SET status = $status, updated_at = $now WHERE job_id = $job_id;

-- name: next_run_id
SELECT coalesce(max(run_id), 0) + 1 FROM runs;

-- name: start_run
INSERT INTO runs (run_id, trigger, requested_by, started_at, outcome, pid)
VALUES ($run_id, $trigger, $requested_by, $now, 'running', $pid);

-- name: record_attempt
INSERT INTO export_attempts
    (run_id, forecast_id, requested_period, time_period, job_id, started_at, finished_at, status,
     export_id, failure_kind, error, warnings)
VALUES
    ($run_id, $forecast_id, $requested_period, $time_period, $job_id, $started_at, $finished_at, $status,
     $export_id, $failure_kind, $error, $warnings);

-- name: finish_run
UPDATE runs
SET finished_at = $now, outcome = $outcome, exports_loaded = $exports_loaded, rows_loaded = $rows_loaded,
    changes_detected = $changes_detected, error = $error
WHERE run_id = $run_id;

-- name: close_abandoned_runs
-- Runs left 'running' by a process that died cannot finish.
UPDATE runs
SET outcome = 'failed', finished_at = coalesce(finished_at, $now),
    error = 'the refresh process stopped before the run finished'
WHERE outcome = 'running';

-- name: demo_clock
SELECT sim_now FROM demo_clock WHERE id = 1;

-- name: set_demo_clock
MERGE INTO demo_clock AS t
USING (SELECT 1 AS id, $sim_now AS sim_now) AS s
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET sim_now = s.sim_now
WHEN NOT MATCHED THEN INSERT (id, sim_now) VALUES (s.id, s.sim_now);

-- name: latest_current_period
-- The period Clari answered the newest export asked for "the current quarter" with.
SELECT time_period
FROM exports
WHERE forecast_id = $forecast_id AND requested_period IS NULL
ORDER BY export_id DESC
LIMIT 1;

-- name: is_period_final
-- A past quarter exported more than a day after it ended cannot change any more (Clari allows
-- edits until the morning after a week ends); so can one that an identical export taken then
-- confirmed (export_confirmations).
SELECT count(*) > 0
FROM latest_exports e
JOIN time_periods p ON p.time_period_id = e.time_period
LEFT JOIN export_confirmations k ON k.export_id = e.export_id
WHERE e.forecast_id = $forecast_id AND e.time_period = $time_period
  AND greatest(e.exported_at, k.confirmed_at) > p.end_date + INTERVAL 1 DAY;

-- name: tenant_fact
SELECT value FROM tenant_facts WHERE name = $name;

-- name: remember_tenant_fact
MERGE INTO tenant_facts AS t
USING (SELECT $name AS name, $value AS value, $now AS learned_at) AS s
ON t.name = s.name
WHEN MATCHED THEN UPDATE SET value = s.value, learned_at = s.learned_at
WHEN NOT MATCHED THEN INSERT (name, value, learned_at) VALUES (s.name, s.value, s.learned_at);
