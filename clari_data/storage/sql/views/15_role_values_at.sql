-- Role values as any export had them, for pages shown as of a past export (`as_of`).
--
-- `export` NULL means the latest export: those rows come from the current_role_values table. A
-- past export's rows are the versions of the role_value_versions table (migration 011) valid at
-- it, which each load keeps beside current_role_values: a filtered scan like the live read, not
-- a pivot of the export's cells. The export is always a bound parameter, so DuckDB folds
-- `export IS NULL` at planning and runs only one of the two branches.

-- The latest week an export carried (NULL: none).
CREATE OR REPLACE MACRO latest_week_at(forecast, period, export) AS (
    SELECT max(time_frame_id)
    FROM role_value_versions
    WHERE forecast_id = forecast AND time_period = period AND is_latest_week
      AND valid_from <= export AND (valid_to IS NULL OR valid_to > export)
);

-- current_role_values' rows for one forecast and period at an export (NULL: the latest), with
-- is_latest_week. For a past export, `users` narrows the rows to some users, `latest_week_only`
-- keeps its latest week alone, and `week` is that latest week if the caller knows it: a bound
-- value lets DuckDB skip the stored row groups of other weeks, so the pages look it up first
-- (queries/latest_week.sql). The latest export's rows are read whole: filtering them later costs nothing.
CREATE OR REPLACE MACRO role_values_at(forecast, period, export, users := NULL, latest_week_only := false,
                                       week := NULL) AS TABLE
SELECT *
FROM current_role_values
WHERE export IS NULL AND forecast_id = forecast AND time_period = period
  AND (NOT latest_week_only OR is_latest_week)
UNION ALL BY NAME
SELECT * EXCLUDE (valid_from, valid_to)
FROM role_value_versions
WHERE export IS NOT NULL AND forecast_id = forecast AND time_period = period
  AND valid_from <= export AND (valid_to IS NULL OR valid_to > export)
  AND (NOT latest_week_only OR is_latest_week)
  AND (users IS NULL OR list_contains(users, user_id))
  AND (NOT latest_week_only OR week IS NULL OR time_frame_id = week);

-- The export a forecast and period show at an export id (NULL: their latest), with its time.
CREATE OR REPLACE MACRO export_in_force(forecast, period, export) AS TABLE
SELECT *
FROM exports
WHERE forecast_id = forecast AND time_period = period
  AND export_id = coalesce(export, (SELECT max(export_id) FROM exports
                                    WHERE forecast_id = forecast AND time_period = period));
