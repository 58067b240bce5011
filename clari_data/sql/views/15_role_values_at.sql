-- Role values as any export had them, for pages shown as of a past export (`as_of`).
--
-- `export` NULL means the latest export: those rows come from the current_role_values table, as
-- they always did. A past export's rows are pivoted from its cells (cells_at_export). The export
-- is always a bound parameter, so DuckDB folds `export IS NULL` at planning and runs only one of
-- the two branches: the latest data costs what it did before as-of existed.

-- The latest week an export carried (ORDER BY ... LIMIT 1 reads less than max() here).
CREATE OR REPLACE MACRO latest_week_at(forecast, period, export) AS (
    SELECT time_frame_id FROM cells_at_export(forecast, period, export)
    ORDER BY time_frame_id DESC
    LIMIT 1
);

-- The pivot of live_role_values (14_role_values.sql) over one export's cells, narrowed before
-- pivoting to some users (`users`, NULL for all) and one week (`week`, NULL for all): a past
-- export's full pivot costs several times a page's live query, and most pages need only a
-- headline's few users or the latest week.
CREATE OR REPLACE MACRO role_pivot_at(forecast, period, export, users, week) AS TABLE
SELECT
    c.forecast_id,
    c.time_period,
    c.time_frame_id,
    c.user_id,
    max(coalesce(c.adjustment_value, c.forecast_value)) FILTER (WHERE r.role = 'commit') AS commit_amount,
    max(c.forecast_value) FILTER (WHERE r.role = 'commit') AS commit_call_amount,
    max(c.adjustment_value) FILTER (WHERE r.role = 'commit') AS commit_adjustment_amount,
    bool_or(c.is_updated) FILTER (WHERE r.role = 'commit') AS commit_is_updated,
    max(coalesce(c.adjustment_value, c.forecast_value)) FILTER (WHERE r.role = 'best_case') AS best_case_amount,
    max(coalesce(c.quota_value, c.forecast_value, c.aggregation_total)) FILTER (WHERE r.role = 'quota') AS quota_amount,
    max(coalesce(c.aggregation_total, c.forecast_value)) FILTER (WHERE r.role = 'closed') AS closed_amount,
    max(coalesce(c.aggregation_total, c.forecast_value)) FILTER (WHERE r.role = 'pipeline') AS pipeline_amount
FROM cells_at_export(forecast, period, export) c
JOIN field_roles r ON r.field_id = c.field_id
WHERE (users IS NULL OR list_contains(users, c.user_id))
  AND (week IS NULL OR c.time_frame_id = week)
GROUP BY ALL;

-- current_role_values' rows for one forecast and period at an export (NULL: the latest), with
-- is_latest_week. For a past export, `users` narrows the rows to some users, `latest_week_only`
-- keeps its latest week alone, and `week` is that latest week if the caller knows it: a bound
-- value lets DuckDB skip the stored row groups of other weeks (a subquery does not), so the pages
-- look it up first (queries/latest_week.sql). The latest export's rows are read whole: filtering
-- them later costs nothing.
CREATE OR REPLACE MACRO role_values_at(forecast, period, export, users := NULL, latest_week_only := false,
                                       week := NULL) AS TABLE
SELECT *
FROM current_role_values
WHERE export IS NULL AND forecast_id = forecast AND time_period = period
  AND (NOT latest_week_only OR is_latest_week)
UNION ALL BY NAME
SELECT
    p.*,
    p.time_frame_id = (CASE WHEN week IS NULL THEN latest_week_at(forecast, period, export) ELSE week END)
        AS is_latest_week
FROM role_pivot_at(forecast, period, export, users,
                   CASE WHEN NOT latest_week_only THEN NULL
                        WHEN week IS NULL THEN latest_week_at(forecast, period, export)
                        ELSE week END) p
WHERE export IS NOT NULL;

-- The export a forecast and period show at an export id (NULL: their latest), with its time.
CREATE OR REPLACE MACRO export_in_force(forecast, period, export) AS TABLE
SELECT *
FROM exports
WHERE forecast_id = forecast AND time_period = period
  AND export_id = coalesce(export, (SELECT max(export_id) FROM exports
                                    WHERE forecast_id = forecast AND time_period = period));
