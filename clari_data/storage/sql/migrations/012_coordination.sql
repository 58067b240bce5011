-- Coordination between the refresh worker (`python -m clari_data worker`) and the dashboard
-- replicas ([server] role = "web"), which share nothing but the warehouse: "Refresh now" in a
-- replica leaves a request here, the leading worker claims every pending request for one run, and
-- publishes what it is doing for every replica to show.
--
-- Requests and claims are append-only, and written by different processes (replicas insert
-- requests, the worker inserts claims): on a lake, inserts from several processes never conflict,
-- where an update of rows another process inserts might. No keys or sequences (a lake has none):
-- a request's id is a uuid made by the replica.
CREATE TABLE refresh_requests (
    request_id   VARCHAR NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    requested_by VARCHAR,              -- the signed-in address, if any
    trigger      VARCHAR NOT NULL,     -- 'manual'
    origin       VARCHAR               -- the replica that recorded it: host and process id
);

-- A request is pending until a worker claims it; one run answers every request it claimed.
CREATE TABLE refresh_claims (
    request_id VARCHAR NOT NULL,
    worker_id  VARCHAR NOT NULL,
    claimed_at TIMESTAMP NOT NULL
);

-- What the leading worker is doing: one row, replaced (delete and insert in one transaction) at
-- most every two seconds while it runs and when a run starts or ends. Only the leader writes it.
CREATE TABLE worker_status (
    worker_id        VARCHAR NOT NULL,
    host             VARCHAR,
    pid              INTEGER,
    leading_since    TIMESTAMP,
    state            VARCHAR NOT NULL,  -- 'idle', 'running', 'stopped'
    stage            VARCHAR,           -- the refresh's Progress: starting, exporting, ..., done, failed
    message          VARCHAR,
    forecast_id      VARCHAR,
    time_period      VARCHAR,
    job_status       VARCHAR,
    step             INTEGER,
    steps            INTEGER,
    last_finished_at TIMESTAMP,         -- the worker's last run's end
    next_run_at      TIMESTAMP,         -- its schedule's next run (UTC)
    updated_at       TIMESTAMP NOT NULL
);
