-- The latest attempt at each forecast and period when it failed or loaded with warnings: what
-- the "export came back empty or truncated" and "loaded with warnings" banners show.
SELECT forecast_id, coalesce(time_period, requested_period) AS time_period, status, failure_kind, error, warnings,
       finished_at
FROM export_attempts
QUALIFY row_number() OVER (PARTITION BY forecast_id, coalesce(time_period, requested_period)
                           ORDER BY finished_at DESC) = 1
    AND (status = 'failed' OR len(warnings) > 0)
ORDER BY finished_at DESC;
