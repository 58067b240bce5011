-- Current cells pivoted by the role their field plays ([fields] in clari.toml), one row per
-- forecast, period, week and user.
--
-- role_pivot is the pivot, the one definition of what each role column holds: an aggregate over
-- the cells of one row (each with the role its field plays), grouped by whatever keys the caller
-- has. The commit amount is the manager's adjustment where there is one, else the user's own call
-- (role_amount, 01_amounts.sql). Its fields are the role columns of current_role_values and
-- role_value_versions, in their order (load.sql compares rows with EXCEPT, by position). Those
-- tables were declared by migrations 004 and 011, which ran on warehouses before this file existed
-- and run before the views on a new one, so they keep their own column lists as they were: a new
-- role column is a new migration adding it to both tables, and a field here.
--
-- Its readers: live_role_values below, the pivot of the current cells; and load.sql, whose
-- stage_role_values and rebuild_role_values read that view and whose rebuild_role_versions
-- pivots the cell history at every export where a row may change. Pivoting on every read was too
-- slow at a large tenant (docs/performance/index.md), so each load stores its forecast and period's
-- pivot in the table current_role_values (and its history in role_value_versions), and the
-- warehouse rebuilds both whole when the field roles change. role_values and latest_week_values
-- read that table.
CREATE OR REPLACE MACRO role_pivot(role, forecast_value, quota_value, adjustment_value, aggregation_total,
                                   is_updated) AS
    struct_pack(
        commit_amount := max(role_amount(role, forecast_value, quota_value, adjustment_value, aggregation_total))
                         FILTER (WHERE role = 'commit'),
        commit_call_amount := max(forecast_value) FILTER (WHERE role = 'commit'),
        commit_adjustment_amount := max(adjustment_value) FILTER (WHERE role = 'commit'),
        commit_is_updated := bool_or(is_updated) FILTER (WHERE role = 'commit'),
        best_case_amount := max(role_amount(role, forecast_value, quota_value, adjustment_value, aggregation_total))
                            FILTER (WHERE role = 'best_case'),
        quota_amount := max(role_amount(role, forecast_value, quota_value, adjustment_value, aggregation_total))
                        FILTER (WHERE role = 'quota'),
        closed_amount := max(role_amount(role, forecast_value, quota_value, adjustment_value, aggregation_total))
                         FILTER (WHERE role = 'closed'),
        pipeline_amount := max(role_amount(role, forecast_value, quota_value, adjustment_value, aggregation_total))
                           FILTER (WHERE role = 'pipeline')
    );

CREATE OR REPLACE VIEW live_role_values AS
SELECT * EXCLUDE (roles), unnest(roles)
FROM (
    SELECT
        c.forecast_id,
        c.time_period,
        c.time_frame_id,
        c.user_id,
        role_pivot(r.role, c.forecast_value, c.quota_value, c.adjustment_value, c.aggregation_total, c.is_updated)
            AS roles
    FROM current_cells c
    JOIN field_roles r ON r.field_id = c.field_id
    GROUP BY ALL
);

CREATE OR REPLACE VIEW role_values AS
SELECT * EXCLUDE (is_latest_week)
FROM current_role_values;

-- The latest week of the latest export of each forecast and period.
CREATE OR REPLACE VIEW latest_week_values AS
SELECT * EXCLUDE (is_latest_week)
FROM current_role_values
WHERE is_latest_week;
