-- What the projection learned from a forecast's ended quarters, for every loaded period as the
-- target (projection_stats): per person, group and role, and week of quarter, n, median m, variance v.
SELECT * FROM projection_stats($forecast_id, NULL);
