-- The warehouse's own bookkeeping: migrations, settings synced at every start, versions.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL
);

-- name: applied_migrations
SELECT version FROM schema_migrations;

-- name: record_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES ($version, $name, $applied_at);

-- name: field_roles
SELECT role, field_id FROM field_roles;

-- name: clear_field_roles
DELETE FROM field_roles;

-- name: insert_field_role
INSERT INTO field_roles (role, field_id) VALUES ($role, $field_id);

-- name: rep_status_cutoffs
SELECT at_risk_below_pct, on_track_from_pct FROM rep_status_cutoffs;

-- name: set_rep_status_cutoffs
-- Upserts are MERGE, on both backends: a lake has no keys for INSERT OR REPLACE or ON CONFLICT.
MERGE INTO rep_status_cutoffs AS t
USING (SELECT 1 AS id, $at_risk_below_pct AS at_risk_below_pct, $on_track_from_pct AS on_track_from_pct) AS s
ON t.id = s.id
WHEN MATCHED THEN UPDATE SET at_risk_below_pct = s.at_risk_below_pct, on_track_from_pct = s.on_track_from_pct
WHEN NOT MATCHED THEN INSERT (id, at_risk_below_pct, on_track_from_pct)
    VALUES (s.id, s.at_risk_below_pct, s.on_track_from_pct);

-- name: data_version
-- Changes whenever a load commits: the key for every cached query result.
SELECT coalesce(max(export_id), 0) FROM exports;

-- name: memory_limit
SELECT current_setting('memory_limit');

-- name: table_rows
SELECT * FROM query_table($table);

-- name: export_record
SELECT * FROM exports WHERE job_id = $job_id;

-- name: attach_source
-- An embedded warehouse file whose rows move into this warehouse (import_file); {path} is a quoted literal.
ATTACH {path} AS import_source (READ_ONLY);

-- name: detach_source
DETACH import_source;

-- name: source_tables
SELECT table_name FROM duckdb_tables() WHERE database_name = 'import_source' AND table_name <> 'schema_migrations'
ORDER BY table_name;

-- name: clear_table
DELETE FROM {table};

-- name: import_table
INSERT INTO {table} BY NAME SELECT * FROM import_source.main.{table};

-- name: count_rows
SELECT count(*) FROM {table};
