-- Ids are taken as max + 1 under the warehouse's write lock: DuckDB does not restore a
-- sequence's state from the write-ahead log after a crash, so sequences could repeat an id.
-- (001 no longer creates them; this drops them from warehouses made before.)
DROP SEQUENCE IF EXISTS export_id_seq;
DROP SEQUENCE IF EXISTS run_id_seq;
