-- Current values by role, kept as a table instead of computed on every read.
--
-- Every page reads `role_values` or `latest_week_values`, and at a large tenant (2,000 users,
-- 8 fields, 14 weeks, a quarter of daily history) pivoting the current cells on each read cost
-- 15-35 ms per query (bench/, docs/performance/index.md). The pivot (the view live_role_values,
-- sql/views/14_role_values.sql) now runs once per load for the loaded forecast and period only
-- (load.sql: stage_role_values ... insert_role_values), and in full when the field roles change.
CREATE TABLE current_role_values (
    forecast_id              VARCHAR,
    time_period              VARCHAR,
    time_frame_id            VARCHAR,
    user_id                  VARCHAR,
    commit_amount            DOUBLE,
    commit_call_amount       DOUBLE,
    commit_adjustment_amount DOUBLE,
    commit_is_updated        BOOLEAN,
    best_case_amount         DOUBLE,
    quota_amount             DOUBLE,
    closed_amount            DOUBLE,
    pipeline_amount          DOUBLE,
    is_latest_week           BOOLEAN   -- the latest week of its forecast and period
);

-- Forget the stored field roles: the warehouse then finds them changed when it syncs [fields]
-- after the migrations, and fills the table from the history already loaded.
DELETE FROM field_roles;
