-- Loading one downloaded export. Every statement runs inside the load's single transaction, on
-- the loader's own cursor (temp tables are private to it).

-- name: read_document
-- The whole file in one read: DuckDB parses it straight from disk. Amounts are read as JSON so
-- that a non-numeric value is counted and dropped instead of failing the whole read.
CREATE OR REPLACE TEMP TABLE stage_doc AS
SELECT *
FROM read_json($path, format = 'auto', columns = $columns, maximum_object_size = $max_object_size);

-- name: describe_document
SELECT
    (SELECT count(*) FROM stage_doc) AS documents,
    (SELECT bool_or(entries IS NULL) FROM stage_doc) AS no_entries,
    (SELECT bool_or(users IS NULL) FROM stage_doc) AS no_users,
    (SELECT bool_or(fields IS NULL) FROM stage_doc) AS no_fields,
    (SELECT bool_or(timePeriods IS NULL OR len(timePeriods) = 0) FROM stage_doc) AS no_periods,
    (SELECT bool_or(timeFrames IS NULL) FROM stage_doc) AS no_frames,
    (SELECT sum(len(entries)) FROM stage_doc) AS entries,
    (SELECT first(timePeriods[1].timePeriodId) FROM stage_doc) AS time_period;

-- name: stage_entries
CREATE OR REPLACE TEMP TABLE stage_raw AS
WITH unnested AS (
    SELECT generate_subscripts(entries, 1) AS ordinal, unnest(entries) AS e
    FROM stage_doc
)
SELECT
    ordinal,
    e.userId AS user_id,
    e.fieldId AS field_id,
    e.timePeriodId AS time_period,
    e.timeFrameId AS time_frame_id,
    e.forecastValue AS forecast_json,
    e.quotaValue AS quota_json,
    e.adjustmentValue AS adjustment_json,
    e.aggregationTotal AS aggregation_json,
    try_cast(e.isUpdated AS BOOLEAN) AS is_updated,
    e.updatedBy AS updated_by,
    e.updatedOn AS updated_on_json,
    e.adjustedBy AS adjusted_by,
    e.adjustedOn AS adjusted_on_json,
    e.currency.code AS currency
FROM unnested;

-- name: stage_lists
-- The ids each entry must name, once, and the document without its entries: the nested copy of
-- every entry would otherwise stay in memory beside the flat one until the load ends.
CREATE OR REPLACE TEMP TABLE stage_known AS
SELECT 'user' AS kind, u.userId AS id FROM (SELECT unnest(users) AS u FROM stage_doc)
UNION
SELECT 'field', f.fieldId FROM (SELECT unnest(fields) AS f FROM stage_doc)
UNION
SELECT 'week', t.timeFrameId FROM (SELECT unnest(timeFrames) AS t FROM stage_doc);
CREATE OR REPLACE TEMP TABLE stage_doc AS SELECT * EXCLUDE (entries) FROM stage_doc;

-- name: entry_problems
-- Counts of what the load drops or flags; the loader turns these into recorded warnings.
WITH amounts AS (
    SELECT unnest([forecast_json, quota_json, adjustment_json, aggregation_json]) AS j FROM stage_raw
),
refs AS (
    SELECT
        r.*,
        r.user_id IN (SELECT id FROM stage_known WHERE kind = 'user') AS known_user,
        r.field_id IN (SELECT id FROM stage_known WHERE kind = 'field') AS known_field,
        r.time_frame_id IN (SELECT id FROM stage_known WHERE kind = 'week') AS known_week
    FROM stage_raw r
)
SELECT
    (SELECT count(*) FROM amounts WHERE j IS NOT NULL AND NOT is_number(j)) AS non_numeric,
    (SELECT count(*) FROM amounts WHERE is_number(j) AND number_or_null(j) IS NULL) AS out_of_range,
    (SELECT count(*) FROM amounts WHERE number_or_null(j) < 0) AS negative,
    (SELECT count(*) FROM refs WHERE user_id IS NULL OR field_id IS NULL OR time_frame_id IS NULL) AS missing_keys,
    (SELECT count(*) FROM refs WHERE time_period IS DISTINCT FROM $time_period) AS other_period,
    (SELECT count(*) FROM refs WHERE user_id IS NOT NULL AND NOT known_user) AS unknown_users,
    (SELECT count(*) FROM refs WHERE field_id IS NOT NULL AND NOT known_field) AS unknown_fields,
    (SELECT count(*) FROM refs WHERE time_frame_id IS NOT NULL AND NOT known_week) AS unknown_weeks,
    (SELECT count(*) - count(DISTINCT (user_id, field_id, time_frame_id)) FROM refs
      WHERE known_user AND known_field AND known_week AND time_period = $time_period) AS duplicates;

-- name: stage_cells
-- One row per cell: entries that name a known user, field and week of the asked period, the
-- first of any duplicates, amounts parsed (non-numbers and absurd magnitudes become NULL).
CREATE OR REPLACE TEMP TABLE stage_cells AS
SELECT
    $forecast_id AS forecast_id,
    time_period,
    time_frame_id,
    user_id,
    field_id,
    number_or_null(forecast_json) AS forecast_value,
    number_or_null(quota_json) AS quota_value,
    number_or_null(adjustment_json) AS adjustment_value,
    number_or_null(aggregation_json) AS aggregation_total,
    is_updated,
    updated_by,
    epoch_ms_or_null(updated_on_json) AS updated_on,
    adjusted_by,
    epoch_ms_or_null(adjusted_on_json) AS adjusted_on,
    currency
FROM stage_raw
WHERE time_period = $time_period
  AND user_id IN (SELECT id FROM stage_known WHERE kind = 'user')
  AND field_id IN (SELECT id FROM stage_known WHERE kind = 'field')
  AND time_frame_id IN (SELECT id FROM stage_known WHERE kind = 'week')
QUALIFY row_number() OVER (PARTITION BY user_id, field_id, time_frame_id ORDER BY ordinal) = 1;

-- name: upsert_users
-- The lookup lists, latest description wins. Upserts are MERGE on both backends (a lake has no keys
-- for INSERT OR REPLACE or ON CONFLICT); each source holds one row per key, as MERGE needs.
MERGE INTO users AS t
USING (
    SELECT
        u.userId AS user_id, u.name AS name, u.email AS email, u.crmId AS crm_id, u.hierarchyId AS hierarchy_id,
        u.hierarchyName AS hierarchy_name, u.parentHierarchyId AS parent_hierarchy_id,
        u.parentHierarchyName AS parent_hierarchy_name, u.scopeId AS scope_id, $export_id AS last_export_id
    FROM (SELECT unnest(users) AS u FROM stage_doc)
    WHERE u.userId IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY u.userId) = 1
) AS s
ON t.user_id = s.user_id
WHEN MATCHED THEN UPDATE BY NAME
WHEN NOT MATCHED THEN INSERT BY NAME;

-- name: upsert_fields
MERGE INTO fields AS t
USING (
    SELECT f.fieldId AS field_id, f.fieldName AS field_name, f.fieldType AS field_type, $export_id AS last_export_id
    FROM (SELECT unnest(fields) AS f FROM stage_doc)
    WHERE f.fieldId IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY f.fieldId) = 1
) AS s
ON t.field_id = s.field_id
WHEN MATCHED THEN UPDATE BY NAME
WHEN NOT MATCHED THEN INSERT BY NAME;

-- name: upsert_periods
MERGE INTO time_periods AS t
USING (
    SELECT
        p.timePeriodId AS time_period_id, p.label AS label, CAST(p.year AS VARCHAR) AS year, p.type AS type,
        try_cast(p.startDate AS DATE) AS start_date, try_cast(p.endDate AS DATE) AS end_date, p.crmId AS crm_id
    FROM (SELECT unnest(timePeriods) AS p FROM stage_doc)
    WHERE p.timePeriodId = $time_period
    QUALIFY row_number() OVER (PARTITION BY p.timePeriodId) = 1
) AS s
ON t.time_period_id = s.time_period_id
WHEN MATCHED THEN UPDATE BY NAME
WHEN NOT MATCHED THEN INSERT BY NAME;

-- name: upsert_frames
MERGE INTO time_frames AS t
USING (
    SELECT
        $time_period AS time_period_id, f.timeFrameId AS time_frame_id, try_cast(f.startDate AS DATE) AS start_date,
        try_cast(f.endDate AS DATE) AS end_date
    FROM (SELECT unnest(timeFrames) AS f FROM stage_doc)
    WHERE f.timeFrameId IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY f.timeFrameId) = 1
) AS s
ON t.time_period_id = s.time_period_id AND t.time_frame_id = s.time_frame_id
WHEN MATCHED THEN UPDATE BY NAME
WHEN NOT MATCHED THEN INSERT BY NAME;

-- name: diff_counts
WITH cur AS (
    SELECT * FROM cell_versions
    WHERE forecast_id = $forecast_id AND time_period = $time_period AND valid_to IS NULL
)
SELECT
    count(*) FILTER (WHERE cur.user_id IS NULL) AS added,
    count(*) FILTER (WHERE cur.user_id IS NOT NULL AND s.user_id IS NOT NULL AND NOT same_cell(cur, s)) AS changed,
    count(*) FILTER (WHERE s.user_id IS NULL) AS removed
FROM stage_cells s
FULL OUTER JOIN cur USING (time_frame_id, user_id, field_id);

-- name: detect_changes
-- A user's number per field is the amount of their cell in the latest week of each export.
INSERT INTO changes
    (export_id, previous_export_id, forecast_id, time_period, user_id, field_id, previous_amount, current_amount,
     change_amount, change_pct, is_significant)
WITH prev AS (
    SELECT user_id, field_id, cell_amount(forecast_value, quota_value, aggregation_total) AS amount
    FROM cell_versions
    WHERE forecast_id = $forecast_id AND time_period = $time_period AND valid_to IS NULL
    QUALIFY time_frame_id = max(time_frame_id) OVER ()
),
cur AS (
    SELECT user_id, field_id, cell_amount(forecast_value, quota_value, aggregation_total) AS amount
    FROM stage_cells
    QUALIFY time_frame_id = max(time_frame_id) OVER ()
),
moved AS (
    SELECT
        user_id, field_id,
        prev.amount AS previous_amount,
        cur.amount AS current_amount,
        coalesce(cur.amount, 0) - coalesce(prev.amount, 0) AS change_amount
    FROM prev JOIN cur USING (user_id, field_id)
    WHERE coalesce(cur.amount, 0) <> coalesce(prev.amount, 0)
)
SELECT
    $export_id, $previous_export_id, $forecast_id, $time_period, user_id, field_id,
    previous_amount, current_amount, change_amount,
    CASE WHEN coalesce(previous_amount, 0) <> 0 THEN 100 * change_amount / abs(previous_amount) END,
    is_significant_change(previous_amount, change_amount, $change_pct, $change_min_amount)
FROM moved;

-- name: close_versions
-- Close the current version of every cell the new export changed or no longer carries.
UPDATE cell_versions AS cur
SET valid_to = $export_id
WHERE cur.forecast_id = $forecast_id AND cur.time_period = $time_period AND cur.valid_to IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM stage_cells s
      WHERE s.time_frame_id = cur.time_frame_id AND s.user_id = cur.user_id AND s.field_id = cur.field_id
        AND same_cell(cur, s)
  );

-- name: open_versions
-- A new version for every cell that has no current one (new, or just closed as changed).
INSERT INTO cell_versions
    (forecast_id, time_period, time_frame_id, user_id, field_id, valid_from, valid_to, forecast_value, quota_value,
     adjustment_value, aggregation_total, is_updated, updated_by, updated_on, adjusted_by, adjusted_on, currency)
SELECT
    s.forecast_id, s.time_period, s.time_frame_id, s.user_id, s.field_id, $export_id, NULL,
    s.forecast_value, s.quota_value, s.adjustment_value, s.aggregation_total,
    s.is_updated, s.updated_by, s.updated_on, s.adjusted_by, s.adjusted_on, s.currency
FROM stage_cells s
WHERE NOT EXISTS (
    SELECT 1 FROM cell_versions cur
    WHERE cur.forecast_id = $forecast_id AND cur.time_period = $time_period AND cur.valid_to IS NULL
      AND cur.time_frame_id = s.time_frame_id AND cur.user_id = s.user_id AND cur.field_id = s.field_id
);

-- name: stage_role_values
-- The loaded forecast and period pivoted by role, its latest week marked: what the
-- current_role_values table (migration 004, views/14_role_values.sql) must hold for them after this load.
CREATE OR REPLACE TEMP TABLE stage_role_values AS
SELECT *, time_frame_id = max(time_frame_id) OVER () AS is_latest_week
FROM live_role_values
WHERE forecast_id = $forecast_id AND time_period = $time_period;

-- name: role_values_gone
-- The rows that changed or went away, and (role_values_new) the rows that are new or changed:
-- unchanged rows stay as they are stored, so both role tables are written only where the export
-- moved something.
CREATE OR REPLACE TEMP TABLE role_values_gone AS
SELECT * FROM current_role_values WHERE forecast_id = $forecast_id AND time_period = $time_period
EXCEPT
SELECT * FROM stage_role_values;

-- name: role_values_new
CREATE OR REPLACE TEMP TABLE role_values_new AS
SELECT * FROM stage_role_values
EXCEPT
SELECT * FROM current_role_values WHERE forecast_id = $forecast_id AND time_period = $time_period;

-- name: close_role_versions
-- The open version of every row that changed or went away ends at this export (migration 011).
UPDATE role_value_versions AS v
SET valid_to = $export_id
FROM role_values_gone AS g
WHERE v.forecast_id = $forecast_id AND v.time_period = $time_period AND v.valid_to IS NULL
  AND v.time_frame_id = g.time_frame_id AND v.user_id = g.user_id;

-- name: open_role_versions
INSERT INTO role_value_versions BY NAME
SELECT *, $export_id AS valid_from, NULL AS valid_to
FROM role_values_new;

-- name: delete_role_values
DELETE FROM current_role_values AS c
USING role_values_gone AS g
WHERE c.forecast_id = $forecast_id AND c.time_period = $time_period
  AND c.time_frame_id = g.time_frame_id AND c.user_id = g.user_id;

-- name: insert_role_values
INSERT INTO current_role_values BY NAME
SELECT * FROM role_values_new;

-- name: clear_role_values
-- With rebuild_role_values and rebuild_role_versions: both role tables again, from the cell
-- history, after the field roles changed.
DELETE FROM current_role_values;
DELETE FROM role_value_versions;

-- name: rebuild_role_values
INSERT INTO current_role_values BY NAME
SELECT *, time_frame_id = max(time_frame_id) OVER (PARTITION BY forecast_id, time_period) AS is_latest_week
FROM live_role_values;

-- name: rebuild_role_versions
-- The versions the loads would have kept, in one pass over the cell history instead of a replay
-- of every export. A row of a forecast, period, week and user can only change at an export where
-- one of its role cells' versions starts or ends, or where the period's latest week moves to or
-- from its week: its state (role_pivot, 14_role_values.sql) is computed at those points alone,
-- and a version starts at each point whose state differs from the one before.
INSERT INTO role_value_versions BY NAME
WITH role_cells AS (
    SELECT c.*, r.role FROM cell_versions c JOIN field_roles r ON r.field_id = c.field_id
),
week_spans AS (
    SELECT DISTINCT forecast_id, time_period, time_frame_id, valid_from, valid_to FROM role_cells
),
latest AS (
    SELECT e.forecast_id, e.time_period, e.export_id, max(s.time_frame_id) AS week
    FROM exports e
    JOIN week_spans s ON s.forecast_id = e.forecast_id AND s.time_period = e.time_period
     AND s.valid_from <= e.export_id AND (s.valid_to IS NULL OR s.valid_to > e.export_id)
    GROUP BY ALL
),
latest_moves AS (
    SELECT *
    FROM (SELECT *, lag(week) OVER (PARTITION BY forecast_id, time_period ORDER BY export_id) AS week_before
          FROM latest)
    WHERE week_before IS DISTINCT FROM week
),
points AS (
    SELECT forecast_id, time_period, time_frame_id, user_id, valid_from AS export_id FROM role_cells
    UNION
    SELECT forecast_id, time_period, time_frame_id, user_id, valid_to FROM role_cells WHERE valid_to IS NOT NULL
    UNION
    SELECT k.forecast_id, k.time_period, k.time_frame_id, k.user_id, m.export_id
    FROM (SELECT DISTINCT forecast_id, time_period, time_frame_id, user_id FROM role_cells) k
    JOIN latest_moves m ON m.forecast_id = k.forecast_id AND m.time_period = k.time_period
     AND (k.time_frame_id = m.week OR k.time_frame_id = m.week_before)
),
states AS (
    SELECT
        p.forecast_id, p.time_period, p.time_frame_id, p.user_id, p.export_id,
        role_pivot(c.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total, c.is_updated)
            AS roles,
        count(c.field_id) > 0 AS carried
    FROM points p
    LEFT JOIN role_cells c
      ON c.forecast_id = p.forecast_id AND c.time_period = p.time_period AND c.time_frame_id = p.time_frame_id
     AND c.user_id = p.user_id AND c.valid_from <= p.export_id AND (c.valid_to IS NULL OR c.valid_to > p.export_id)
    GROUP BY ALL
),
marked AS (
    SELECT s.*, s.time_frame_id = l.week AS is_latest_week
    FROM states s
    LEFT JOIN latest l USING (forecast_id, time_period, export_id)
),
starts AS (
    SELECT *
    FROM marked
    WINDOW key AS (PARTITION BY forecast_id, time_period, time_frame_id, user_id ORDER BY export_id)
    QUALIFY lag(struct_pack(roles, is_latest_week, carried)) OVER key
            IS DISTINCT FROM struct_pack(roles, is_latest_week, carried)
)
SELECT * EXCLUDE (roles, export_id, carried, next_start), unnest(roles), export_id AS valid_from,
       next_start AS valid_to
FROM (SELECT *, lead(export_id) OVER (PARTITION BY forecast_id, time_period, time_frame_id, user_id
                                      ORDER BY export_id) AS next_start
      FROM starts)
WHERE carried;

-- name: drop_stage
DROP TABLE IF EXISTS stage_doc;
DROP TABLE IF EXISTS stage_raw;
DROP TABLE IF EXISTS stage_known;
DROP TABLE IF EXISTS stage_cells;
DROP TABLE IF EXISTS stage_role_values;
DROP TABLE IF EXISTS role_values_gone;
DROP TABLE IF EXISTS role_values_new;

-- name: export_of_job
-- A job already loaded: loading it again changes nothing.
SELECT export_id, time_period FROM exports WHERE job_id = $job_id;

-- name: confirm_export
-- An identical file taken later: the stored export holds as of then (migration 010).
MERGE INTO export_confirmations AS t
USING (SELECT $export_id AS export_id, $exported_at AS confirmed_at) AS s
ON t.export_id = s.export_id
WHEN MATCHED THEN UPDATE SET confirmed_at = greatest(t.confirmed_at, s.confirmed_at)
WHEN NOT MATCHED THEN INSERT (export_id, confirmed_at) VALUES (s.export_id, s.confirmed_at);

-- name: latest_export_of
SELECT export_id, file_sha256
FROM exports
WHERE forecast_id = $forecast_id AND time_period = $time_period
ORDER BY export_id DESC
LIMIT 1;

-- name: stage_counts
SELECT count(*) AS cells, count(DISTINCT user_id) AS users, count(DISTINCT time_frame_id) AS weeks
FROM stage_cells;

-- name: next_export_id
SELECT coalesce(max(export_id), 0) + 1 FROM exports;

-- name: significant_changes
SELECT count(*) FROM changes WHERE export_id = $export_id AND is_significant;

-- name: insert_export
INSERT INTO exports
    (export_id, job_id, forecast_id, time_period, requested_period, status, exported_at, loaded_at,
     file_sha256, file_bytes, entries, cells, users, weeks, cells_added, cells_changed, cells_removed,
     changes_detected, rows_truncated, warnings)
VALUES
    ($export_id, $job_id, $forecast_id, $time_period, $requested_period, 'loaded', $exported_at, $loaded_at,
     $file_sha256, $file_bytes, $entries, $cells, $users, $weeks, $cells_added, $cells_changed, $cells_removed,
     $changes_detected, $rows_truncated, $warnings);
