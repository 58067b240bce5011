-- Refresh bookkeeping: runs, the export attempts in them, Clari jobs in flight, the demo clock,
-- and what a refresh asks before it exports. Ids are max + 1 under the warehouse's write lock
-- (one writing process per file), not sequences: after a crash DuckDB replays committed rows from
-- the WAL but not a sequence's state, so a sequence would hand out an id a replayed row holds.

-- name: in_flight_job
SELECT job_id
FROM export_jobs
WHERE forecast_id = $forecast_id AND requested_period IS NOT DISTINCT FROM $requested_period
  AND status = 'in_flight'
ORDER BY queued_at DESC
LIMIT 1;

-- name: remember_job
INSERT OR REPLACE INTO export_jobs (job_id, forecast_id, requested_period, queued_at, status, updated_at)
VALUES ($job_id, $forecast_id, $requested_period, $now, 'in_flight', $now);

-- name: set_job_status
UPDATE export_jobs SET status = $status, updated_at = $now WHERE job_id = $job_id;

-- name: start_run
INSERT INTO runs (run_id, trigger, requested_by, started_at, outcome, pid)
SELECT coalesce(max(run_id), 0) + 1, $trigger, $requested_by, $now, 'running', $pid
FROM runs
RETURNING run_id;

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
INSERT OR REPLACE INTO demo_clock (id, sim_now) VALUES (1, $sim_now);

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
INSERT OR REPLACE INTO tenant_facts (name, value, learned_at) VALUES ($name, $value, $now);
