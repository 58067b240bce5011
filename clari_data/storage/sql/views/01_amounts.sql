-- Amount parsing. Clari sends numbers; anything else (a string, an object) is not an amount, and
-- magnitudes beyond any real forecast (or not finite) are treated as corrupt.
CREATE OR REPLACE MACRO is_number(j) AS json_type(j) IN ('DOUBLE', 'BIGINT', 'UBIGINT', 'HUGEINT');

CREATE OR REPLACE MACRO number_or_null(j) AS
    CASE WHEN is_number(j) AND isfinite(CAST(j AS DOUBLE)) AND abs(CAST(j AS DOUBLE)) < 1e15
         THEN CAST(j AS DOUBLE) END;

CREATE OR REPLACE MACRO epoch_ms_or_null(j) AS
    CASE WHEN is_number(j) AND abs(CAST(j AS DOUBLE)) < 1e14
         THEN make_timestamp(CAST(CAST(j AS DOUBLE) AS BIGINT) * 1000) END;

-- The amount a cell gives the role its field plays ([fields]): a call (commit, best case) is the
-- manager's adjustment where there is one, else the person's own; quota prefers the quota value;
-- CRM totals (closed won, pipeline) their aggregation, else the forecast value they arrive as.
-- The role pivot (role_pivot, 14_role_values.sql) reads cells through it.
CREATE OR REPLACE MACRO role_amount(role, forecast_value, quota_value, adjustment_value, aggregation_total) AS
    CASE WHEN role IN ('commit', 'best_case') THEN coalesce(adjustment_value, forecast_value)
         WHEN role = 'quota' THEN coalesce(quota_value, forecast_value, aggregation_total)
         ELSE coalesce(aggregation_total, forecast_value) END;
