-- The change rule ([alerts] change_pct and change_min_amount): a move counts when it is at least
-- min_amount and at least pct_threshold % of the previous amount; a move from zero (or from
-- nothing) has no percentage and counts by amount alone. Used when a load records its changes
-- (load.sql: detect_changes) and when the pages compare any two exports (queries/moves_between.sql).
CREATE OR REPLACE MACRO is_significant_change(previous_amount, change_amount, pct_threshold, min_amount) AS
    abs(change_amount) >= min_amount
    AND (coalesce(previous_amount, 0) = 0 OR 100 * abs(change_amount) >= pct_threshold * abs(previous_amount));
