-- The rep status cut-offs ([alerts] at_risk_below_pct and on_track_from_pct), which the
-- rep_performance view reads. One row, written from the settings every time the warehouse opens.
CREATE TABLE rep_status_cutoffs (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    at_risk_below_pct DOUBLE NOT NULL,
    on_track_from_pct DOUBLE NOT NULL
);
