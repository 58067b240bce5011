-- Amount parsing. Clari sends numbers; anything else (a string, an object) is not an amount, and
-- magnitudes beyond any real forecast (or not finite) are treated as corrupt.
CREATE OR REPLACE MACRO is_number(j) AS json_type(j) IN ('DOUBLE', 'BIGINT', 'UBIGINT', 'HUGEINT');

CREATE OR REPLACE MACRO number_or_null(j) AS
    CASE WHEN is_number(j) AND isfinite(CAST(j AS DOUBLE)) AND abs(CAST(j AS DOUBLE)) < 1e15
         THEN CAST(j AS DOUBLE) END;

CREATE OR REPLACE MACRO epoch_ms_or_null(j) AS
    CASE WHEN is_number(j) AND abs(CAST(j AS DOUBLE)) < 1e14
         THEN make_timestamp(CAST(CAST(j AS DOUBLE) AS BIGINT) * 1000) END;
