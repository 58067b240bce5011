-- The warehouse. All times are UTC, stored as TIMESTAMP.
--
-- Data tables (exports, users, fields, time_periods, time_frames, cell_versions, changes) change
-- only inside a successful load. Operational tables (runs, export_attempts, export_jobs) record
-- what happened, including failures, and never hold forecast data.

-- One row per loaded export: the record of what came in, when, and how much it moved.
CREATE TABLE exports (
    export_id        BIGINT PRIMARY KEY,
    job_id           VARCHAR NOT NULL UNIQUE,
    forecast_id      VARCHAR NOT NULL,
    time_period      VARCHAR NOT NULL,
    requested_period VARCHAR,              -- NULL: the current quarter was asked for
    status           VARCHAR NOT NULL,     -- 'loaded'
    exported_at      TIMESTAMP NOT NULL,   -- when Clari finished the job
    loaded_at        TIMESTAMP NOT NULL,
    file_sha256      VARCHAR NOT NULL,
    file_bytes       BIGINT NOT NULL,
    entries          BIGINT NOT NULL,      -- entries in the file
    cells            BIGINT NOT NULL,      -- distinct cells loaded
    users            BIGINT NOT NULL,
    weeks            BIGINT NOT NULL,
    cells_added      BIGINT NOT NULL,
    cells_changed    BIGINT NOT NULL,
    cells_removed    BIGINT NOT NULL,
    changes_detected BIGINT NOT NULL,      -- moves at or above the thresholds
    rows_truncated   BOOLEAN NOT NULL,
    warnings         VARCHAR[] NOT NULL
);

-- Lookup lists, latest description wins. A user's manager is a role, as Clari expresses it.
CREATE TABLE users (
    user_id               VARCHAR PRIMARY KEY,
    name                  VARCHAR,
    email                 VARCHAR,
    crm_id                VARCHAR,
    hierarchy_id          VARCHAR,
    hierarchy_name        VARCHAR,
    parent_hierarchy_id   VARCHAR,
    parent_hierarchy_name VARCHAR,
    scope_id              VARCHAR,
    last_export_id        BIGINT NOT NULL
);

CREATE TABLE fields (
    field_id       VARCHAR PRIMARY KEY,
    field_name     VARCHAR,
    field_type     VARCHAR,
    last_export_id BIGINT NOT NULL
);

CREATE TABLE time_periods (
    time_period_id VARCHAR PRIMARY KEY,
    label          VARCHAR,
    year           VARCHAR,
    type           VARCHAR,
    start_date     DATE,
    end_date       DATE,
    crm_id         VARCHAR
);

CREATE TABLE time_frames (
    time_period_id VARCHAR NOT NULL,
    time_frame_id  VARCHAR NOT NULL,
    start_date     DATE,
    end_date       DATE,
    PRIMARY KEY (time_period_id, time_frame_id)
);

-- Which fieldId plays which role in this tenant; written from [fields] at every start.
CREATE TABLE field_roles (
    role     VARCHAR PRIMARY KEY,
    field_id VARCHAR NOT NULL
);

-- The facts, one row per version of a cell (forecast, period, week, user, field). A version is
-- valid from the export that first carried it until the export that changed or dropped it
-- (valid_to, NULL while current), so the state at any export is reconstructible while storage
-- grows with changes, not with exports x cells.
CREATE TABLE cell_versions (
    forecast_id      VARCHAR NOT NULL,
    time_period      VARCHAR NOT NULL,
    time_frame_id    VARCHAR NOT NULL,
    user_id          VARCHAR NOT NULL,
    field_id         VARCHAR NOT NULL,
    valid_from       BIGINT NOT NULL,
    valid_to         BIGINT,
    forecast_value   DOUBLE,
    quota_value      DOUBLE,
    adjustment_value DOUBLE,
    aggregation_total DOUBLE,
    is_updated       BOOLEAN,
    updated_by       VARCHAR,
    updated_on       TIMESTAMP,
    adjusted_by      VARCHAR,
    adjusted_on      TIMESTAMP,
    currency         VARCHAR
);

-- Every move of a user's number between two consecutive exports of a forecast and period.
CREATE TABLE changes (
    export_id          BIGINT NOT NULL,
    previous_export_id BIGINT NOT NULL,
    forecast_id        VARCHAR NOT NULL,
    time_period        VARCHAR NOT NULL,
    user_id            VARCHAR NOT NULL,
    field_id           VARCHAR NOT NULL,
    previous_amount    DOUBLE,
    current_amount     DOUBLE,
    change_amount      DOUBLE NOT NULL,
    change_pct         DOUBLE,             -- NULL when the previous amount was zero
    is_significant     BOOLEAN NOT NULL    -- at or above both thresholds at detection time
);

-- Operational: refresh runs, each export attempt in them, and Clari jobs in flight.
CREATE TABLE runs (
    run_id           BIGINT PRIMARY KEY,
    trigger          VARCHAR NOT NULL,     -- 'schedule', 'manual', 'cli', 'startup'
    requested_by     VARCHAR,
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP,
    outcome          VARCHAR NOT NULL,     -- 'running', 'success', 'partial', 'failed'
    exports_loaded   INTEGER NOT NULL DEFAULT 0,
    rows_loaded      BIGINT NOT NULL DEFAULT 0,
    changes_detected INTEGER NOT NULL DEFAULT 0,
    error            VARCHAR,
    pid              INTEGER
);

CREATE TABLE export_attempts (
    run_id           BIGINT NOT NULL,
    forecast_id      VARCHAR NOT NULL,
    requested_period VARCHAR,
    time_period      VARCHAR,
    job_id           VARCHAR,
    started_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP,
    status           VARCHAR NOT NULL,     -- 'loaded', 'unchanged', 'skipped', 'failed'
    export_id        BIGINT,
    failure_kind     VARCHAR,              -- e.g. 'empty', 'truncated', 'quota_reached'
    error            VARCHAR,
    warnings         VARCHAR[]
);

-- A queued Clari job is remembered before it is polled, so a crashed or retried refresh polls
-- it again instead of spending quota on a new one.
CREATE TABLE export_jobs (
    job_id           VARCHAR PRIMARY KEY,
    forecast_id      VARCHAR NOT NULL,
    requested_period VARCHAR,              -- NULL: current quarter
    queued_at        TIMESTAMP NOT NULL,
    status           VARCHAR NOT NULL,     -- 'in_flight', 'loaded', 'failed', 'abandoned'
    updated_at       TIMESTAMP NOT NULL
);

-- Demo mode only: the simulated Clari's clock, so each demo refresh moves it on.
CREATE TABLE demo_clock (
    id      INTEGER PRIMARY KEY,
    sim_now TIMESTAMP NOT NULL
);
