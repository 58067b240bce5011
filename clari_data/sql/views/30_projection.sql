-- The calibrated projection (README "Projection"): each person's own bias by week of quarter,
-- learned from the ended quarters before the one projected, gives P10 / P50 / P90 of where they
-- will land.
--
-- For a person u and week of quarter w, r = ln(final closed won / commit call at week w) over
-- earlier ended quarters (the call is the manager's adjustment where there is one). With n such
-- quarters of their own (median m_u, sample variance v_u) and their group's (the people with the
-- same manager and role, else everyone of that role: median m_g, variance v_g of all their r; a
-- median, because a quarter a manager's adjustment threw off should not move the centre much),
--   mu    = (n m_u + k m_g) / (n + k)
--   s^2   = ((n - 1) v_u + k v_g) / ((n - 1) + k) * (1 + 1 / (n + k))
--   Pq    = call x exp(mu + z_q s), z = -1.2816 (P10), 0 (P50), +1.2816 (P90),
-- never below what is already closed. k (projection_pooling) was chosen on the back-test
-- (clari_data/projection.py compares it with other estimators). Nothing reads a quarter that had
-- not ended before the projected one began.

CREATE OR REPLACE MACRO projection_pooling() AS 1.0;
CREATE OR REPLACE MACRO projection_z() AS 1.2815515655446004;  -- the normal's 90th percentile
CREATE OR REPLACE MACRO projection_min_quarters() AS 2;  -- earlier quarters a back-tested quarter needs

-- One row per ended quarter, person and week with a positive call and a positive final actual.
CREATE OR REPLACE VIEW projection_history AS
SELECT
    a.forecast_id,
    a.time_period,
    p.start_date AS period_start,
    p.end_date AS period_end,
    a.user_id,
    a.is_manager,
    a.manager_user_id,
    a.week_number,
    a.forecast_amount AS call_amount,
    a.actual_amount,
    ln(a.actual_amount / a.forecast_amount) AS log_ratio
FROM forecast_accuracy a
JOIN time_periods p ON p.time_period_id = a.time_period
WHERE a.forecast_amount > 0 AND a.actual_amount > 0;

-- Per person and week, the statistics of the ended quarters that ended before `period` began.
CREATE OR REPLACE MACRO projection_fit(forecast, period) AS TABLE
WITH past AS (
    SELECT h.*
    FROM projection_history h
    WHERE h.forecast_id = forecast
      AND h.period_end < (SELECT start_date FROM time_periods WHERE time_period_id = period)
),
own AS (
    SELECT user_id, week_number, count(*) AS n, median(log_ratio) AS m, coalesce(var_samp(log_ratio), 0) AS v
    FROM past
    GROUP BY ALL
),
team AS (
    SELECT manager_user_id, is_manager, week_number, median(log_ratio) AS m, var_samp(log_ratio) AS v
    FROM past
    GROUP BY ALL
    HAVING count(*) >= 2
),
org AS (
    SELECT is_manager, week_number, median(log_ratio) AS m, var_samp(log_ratio) AS v
    FROM past
    GROUP BY ALL
    HAVING count(*) >= 2
),
people AS (
    SELECT d.user_id, coalesce(d.is_manager, false) AS is_manager, d.manager_user_id, w.week_number
    FROM user_directory d, (SELECT DISTINCT week_number FROM past) w
)
SELECT
    p.user_id,
    p.week_number,
    coalesce(o.n, 0) AS n,
    o.m AS own_mean,
    o.v AS own_var,
    coalesce(t.m, g.m) AS group_mean,
    coalesce(t.v, g.v) AS group_var,
    CASE WHEN t.m IS NOT NULL THEN 'team' WHEN g.m IS NOT NULL THEN 'org' END AS pooled_toward
FROM people p
LEFT JOIN own o ON o.user_id = p.user_id AND o.week_number = p.week_number
LEFT JOIN team t ON t.manager_user_id IS NOT DISTINCT FROM p.manager_user_id AND t.is_manager = p.is_manager
                AND t.week_number = p.week_number
LEFT JOIN org g ON g.is_manager = p.is_manager AND g.week_number = p.week_number
WHERE o.n IS NOT NULL OR t.m IS NOT NULL OR g.m IS NOT NULL;

-- The projection of every person and week of a forecast and period at an export (NULL: the
-- latest); `users`, `latest_week_only` and `week` narrow a past export's pivot as in role_values_at.
CREATE OR REPLACE MACRO projection_at(forecast, period, export, users := NULL, latest_week_only := false,
                                      week := NULL) AS TABLE
WITH vals AS (
    SELECT v.*, w.week_number, w.start_date
    FROM role_values_at(forecast, period, export, users := users, latest_week_only := latest_week_only,
                        week := week) v
    JOIN week_numbers w ON w.time_period = v.time_period AND w.time_frame_id = v.time_frame_id
),
weighted AS (
    SELECT
        v.*,
        coalesce(f.n, 0) AS quarters_used,
        f.pooled_toward,
        f.own_mean,
        f.own_var,
        f.group_mean,
        f.group_var,
        coalesce(f.n, 0) AS w_own,
        CASE WHEN f.group_mean IS NOT NULL THEN projection_pooling() ELSE 0 END AS w_group
    FROM vals v
    LEFT JOIN projection_fit(forecast, period) f ON f.user_id = v.user_id AND f.week_number = v.week_number
),
fitted AS (
    SELECT
        *,
        (w_own * coalesce(own_mean, 0) + w_group * coalesce(group_mean, 0)) / nullif(w_own + w_group, 0) AS mu,
        sqrt((greatest(w_own - 1, 0) * coalesce(own_var, 0) + w_group * coalesce(group_var, 0))
             / nullif(greatest(w_own - 1, 0) + w_group, 0) * (1 + 1 / nullif(w_own + w_group, 0))) AS sigma
    FROM weighted
),
projected AS (
    SELECT
        *,
        CASE WHEN commit_amount > 0 THEN commit_amount * exp(mu - projection_z() * sigma) END AS raw_p10,
        CASE WHEN commit_amount > 0 THEN commit_amount * exp(mu) END AS raw_p50,
        CASE WHEN commit_amount > 0 THEN commit_amount * exp(mu + projection_z() * sigma) END AS raw_p90
    FROM fitted
)
SELECT
    forecast_id,
    time_period,
    time_frame_id,
    week_number,
    start_date,
    user_id,
    is_latest_week,
    commit_amount AS call_amount,
    closed_amount,
    quota_amount,
    -- Closed won only grows: no quantile lies below what is already closed.
    greatest(raw_p10, coalesce(closed_amount, 0)) AS p10_amount,
    greatest(raw_p50, coalesce(closed_amount, 0)) AS p50_amount,
    greatest(raw_p90, raw_p50, coalesce(closed_amount, 0)) AS p90_amount,
    quarters_used,
    CASE WHEN raw_p50 IS NULL THEN NULL
         WHEN w_own = 0 THEN 'log ratio of the ' || pooled_toward || ' (no quarters of their own)'
         WHEN w_group = 0 THEN 'log ratio, own quarters only'
         ELSE 'log ratio, own quarters pooled toward the ' || pooled_toward || ' (k = '
              || CAST(projection_pooling() AS INTEGER) || ')' END AS method
FROM projected;

-- Each forecast's open periods (not yet ended at their latest export) at that export's latest week.
CREATE OR REPLACE VIEW forecast_projection AS
SELECT p.forecast_id, p.time_period, p.user_id, p.week_number, p.call_amount, p.closed_amount, p.p10_amount,
       p.p50_amount, p.p90_amount, p.quarters_used, p.method
FROM latest_exports e
JOIN time_periods t ON t.time_period_id = e.time_period
LEFT JOIN export_confirmations k ON k.export_id = e.export_id,
     projection_at(e.forecast_id, e.time_period, NULL, latest_week_only := true) p
WHERE NOT coalesce(t.end_date < CAST(greatest(e.exported_at, k.confirmed_at) AS DATE), false);

-- Every ended quarter with projection_min_quarters() ended quarters before it, projected week by
-- week from those alone, against what it closed.
CREATE OR REPLACE VIEW projection_backtest AS
WITH ended AS (
    SELECT DISTINCT forecast_id, time_period, period_start FROM projection_history
),
eligible AS (
    SELECT e.forecast_id, e.time_period
    FROM ended e
    WHERE (SELECT count(DISTINCT h.time_period) FROM projection_history h
           WHERE h.forecast_id = e.forecast_id AND h.period_end < e.period_start) >= projection_min_quarters()
),
scored AS (
    SELECT p.*, h.actual_amount
    FROM eligible e, projection_at(e.forecast_id, e.time_period, NULL) p
    JOIN projection_history h ON h.forecast_id = p.forecast_id AND h.time_period = p.time_period
                             AND h.user_id = p.user_id AND h.week_number = p.week_number
    WHERE p.p50_amount IS NOT NULL
)
SELECT
    forecast_id,
    time_period,
    week_number,
    count(*) AS people,
    avg(CASE WHEN actual_amount BETWEEN p10_amount AND p90_amount THEN 1.0 ELSE 0.0 END) AS band_coverage,
    sum(abs(p50_amount - actual_amount)) / nullif(sum(abs(actual_amount)), 0) AS p50_wape,
    sum(abs(call_amount - actual_amount)) / nullif(sum(abs(actual_amount)), 0) AS call_wape
FROM scored
GROUP BY ALL
ORDER BY forecast_id, time_period, week_number;
