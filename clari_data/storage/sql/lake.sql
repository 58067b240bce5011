-- The DuckLake backend (backends/lake.py): loading its extensions, attaching the lake, the name
-- resolution of every cursor, upkeep. {placeholders} are SQL literals lake.py quotes: LOAD and
-- ATTACH take no bound parameters.

-- name: load_extension
LOAD {path};

-- name: password_secret
-- The catalog's password as DuckDB's default PostgreSQL secret: bound, so it is in no SQL text,
-- and DuckDB shows it redacted (duckdb_secrets()). The catalog string never carries it.
CREATE OR REPLACE TEMPORARY SECRET __default_postgres (TYPE postgres, PASSWORD $password);

-- name: attach
-- Rows written in one statement up to the limit stay in the catalog's PostgreSQL (inlined) instead
-- of a Parquet file each: a run, an attempt, a status row, a few notification keys. A load's
-- thousands of rows become files. CHECKPOINT (compact) moves inlined rows into files.
ATTACH {target} AS lake (DATA_PATH {data_path}, DATA_INLINING_ROW_LIMIT 100, CREATE_IF_NOT_EXISTS {create});

-- name: lake_cursor
-- Every cursor: tables (and anything created without a catalog) in the lake; the views and macros,
-- created per process in the in-memory catalog (warehouse/core.py: _create_views), found next.
USE lake;
SET search_path = 'lake.main,memory.main';

-- name: views_cursor
-- Creating the views and macros: in the in-memory catalog, binding to the lake's tables.
USE memory;
SET search_path = 'memory.main,lake.main';

-- name: lake_options
SELECT option_name, value FROM ducklake_options('lake');

-- name: set_lake_option
-- Snapshots older than this are expired at each compaction and their files deleted: the history
-- the pages travel through lives in rows (cell_versions, role_value_versions), and a page run's
-- snapshot lasts seconds. A day of snapshots is kept for looking back by hand (AT (VERSION => n)).
CALL lake.set_option($name, $value);

-- name: compact
-- Inlined rows into files, small files merged, deletes applied, old snapshots expired and their
-- files removed (the options set at creation).
CHECKPOINT lake;

-- name: lake_storage
SELECT coalesce(sum(file_size_bytes + delete_file_size_bytes), 0) FROM ducklake_table_info('lake');

-- name: lake_initialised
-- Whether a worker has created the warehouse's tables in this lake.
SELECT count(*) > 0 FROM duckdb_tables() WHERE database_name = 'lake' AND table_name = 'schema_migrations';

-- name: attach_mirror
-- The process's copy of the lake's tables at one lake snapshot, which page runs read (lake.py:
-- Mirror): compressed in memory, a few times smaller than the data it holds.
ATTACH ':memory:' AS mirror (COMPRESS);

-- name: mirror_cursor
-- A page run's cursor: the tables of the mirror, then the process's views and macros.
USE mirror;
SET search_path = 'mirror.main,memory.main';

-- name: latest_snapshot
SELECT max(snapshot_id) FROM ducklake_snapshots('lake');

-- name: snapshots_since
-- What each snapshot after the mirror's changed, up to the one this transaction reads.
SELECT snapshot_id, changes FROM ducklake_snapshots('lake') WHERE snapshot_id > $since ORDER BY snapshot_id;

-- name: lake_tables
SELECT table_id, table_name FROM ducklake_table_info('lake');

-- name: mirror_tables
SELECT table_name FROM duckdb_tables() WHERE database_name = 'mirror';

-- name: copy_table
CREATE OR REPLACE TABLE mirror.main.{table} AS SELECT * FROM lake.main.{table};

-- name: drop_mirror_table
DROP TABLE IF EXISTS mirror.main.{table};
