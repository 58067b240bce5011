-- When a later export of the same forecast and period comes back byte-for-byte identical, nothing
-- is loaded, yet the stored export holds as of that later time: a past quarter whose last stored
-- export was taken before its end becomes ended (forecast_accuracy) and final (runs.sql:
-- is_period_final) once an identical export taken after its end confirms it.
CREATE TABLE export_confirmations (
    export_id    INTEGER PRIMARY KEY,
    confirmed_at TIMESTAMP NOT NULL
);
