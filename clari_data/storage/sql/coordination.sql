-- Coordination of the refresh worker and the dashboard replicas (migration 012): requests for a
-- refresh, the worker's claims on them, and the worker's published status.

-- name: add_refresh_request
INSERT INTO refresh_requests (request_id, requested_at, requested_by, trigger, origin)
VALUES ($request_id, $now, $requested_by, $trigger, $origin);

-- name: pending_refresh_requests
-- Requests no worker has claimed yet, oldest first.
SELECT r.request_id, r.requested_at, r.requested_by, r.trigger, r.origin
FROM refresh_requests r
WHERE NOT EXISTS (SELECT 1 FROM refresh_claims c WHERE c.request_id = r.request_id)
ORDER BY r.requested_at, r.request_id;

-- name: claim_refresh_requests
INSERT INTO refresh_claims (request_id, worker_id, claimed_at)
SELECT unnest($request_ids), $worker_id, $now;

-- name: last_run_started_at
-- A request made before the last run started is answered by that run (its data is at least as new),
-- and so is a manual one made within the cool-down after the last manual run started.
SELECT max(started_at), max(started_at) FILTER (WHERE trigger = 'manual') FROM runs;

-- name: clear_worker_status
DELETE FROM worker_status;

-- name: insert_worker_status
INSERT INTO worker_status
    (worker_id, host, pid, leading_since, state, stage, message, forecast_id, time_period, job_status, step,
     steps, last_finished_at, next_run_at, updated_at)
VALUES
    ($worker_id, $host, $pid, $leading_since, $state, $stage, $message, $forecast_id, $time_period, $job_status,
     $step, $steps, $last_finished_at, $next_run_at, $updated_at);

-- name: worker_status
-- The newest status (one row; the newest wins should two ever be there).
SELECT worker_id, host, pid, leading_since, state, stage, message, forecast_id, time_period, job_status, step,
       steps, last_finished_at, next_run_at, updated_at
FROM worker_status
ORDER BY updated_at DESC
LIMIT 1;

-- name: refresh_overview
-- What a replica shows of the refresh, besides the worker's status: finished runs (a count that
-- grows with each, so a page that saw fewer moves to the new data), the last end of a run, the
-- last manual run or request (the cool-down), and the requests still waiting for a worker.
WITH pending AS (
    SELECT r.requested_at
    FROM refresh_requests r
    WHERE NOT EXISTS (SELECT 1 FROM refresh_claims c WHERE c.request_id = r.request_id)
)
SELECT
    (SELECT count(*) FROM runs WHERE outcome <> 'running') AS runs_completed,
    (SELECT max(finished_at) FROM runs) AS last_finished_at,
    greatest((SELECT max(requested_at) FROM refresh_requests WHERE trigger = 'manual'),
             (SELECT max(started_at) FROM runs WHERE trigger = 'manual')) AS last_manual_at,
    (SELECT count(*) FROM pending) AS pending,
    (SELECT min(requested_at) FROM pending) AS pending_since;
