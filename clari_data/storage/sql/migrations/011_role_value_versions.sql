-- The role values' history, kept as versions the way cell_versions keeps cells.
--
-- A page shown as of a past export (`as_of`) used to pivot that export's cells on every read,
-- several times the cost of reading the current_role_values table live (docs/performance/index.md,
-- Time travel). Each load now also closes the versions of the role rows its export changed or
-- dropped and opens one for each new or changed row (load.sql: diff_role_values ...
-- open_role_versions), so any past export's role values are a filtered scan, and storage grows
-- with the rows that change, not with exports x rows. A row is one of current_role_values, valid
-- from the export that first carried it until the export that changed or dropped it (valid_to,
-- NULL while current): the open versions are exactly current_role_values.
CREATE TABLE role_value_versions (
    forecast_id              VARCHAR NOT NULL,
    time_period              VARCHAR NOT NULL,
    time_frame_id            VARCHAR NOT NULL,
    user_id                  VARCHAR NOT NULL,
    valid_from               BIGINT NOT NULL,
    valid_to                 BIGINT,
    commit_amount            DOUBLE,
    commit_call_amount       DOUBLE,
    commit_adjustment_amount DOUBLE,
    commit_is_updated        BOOLEAN,
    best_case_amount         DOUBLE,
    quota_amount             DOUBLE,
    closed_amount            DOUBLE,
    pipeline_amount          DOUBLE,
    is_latest_week           BOOLEAN   -- the latest week of its forecast and period at those exports
);

-- Forget the stored field roles: the warehouse then finds them changed when it syncs [fields]
-- after the migrations, and rebuilds both role tables from the history already loaded.
DELETE FROM field_roles;
