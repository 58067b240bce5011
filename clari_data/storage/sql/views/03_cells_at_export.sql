-- The state of one forecast and period as a given export had it: every cell version valid at
-- that export. `SELECT * FROM cells_at_export('net_arr', '2026_Q3', 42)` rebuilds any past export.
CREATE OR REPLACE MACRO cells_at_export(forecast, period, export) AS TABLE
    SELECT *
    FROM cell_versions
    WHERE forecast_id = forecast AND time_period = period
      AND valid_from <= export AND (valid_to IS NULL OR valid_to > export);
