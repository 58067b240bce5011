-- The calibrated projection (docs/projection.md): each person's own bias by week of quarter,
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
-- (clari_data/read/projection.py compares it with other estimators). Nothing reads a quarter that had
-- not ended before the projected one began.

CREATE OR REPLACE MACRO projection_pooling() AS 0.5;
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

-- The statistics of r at each week over the ended quarters that ended before each target period
-- of a forecast began (`period`: one target; NULL: every loaded period), in one pass over the
-- history: per person (level 'own', key = user_id), per group of people with the same manager and
-- role ('team', key = manager_user_id), and per role ('org'). A group needs two values.
CREATE OR REPLACE MACRO projection_stats(forecast, period) AS TABLE
WITH past AS MATERIALIZED (
    SELECT * FROM projection_history WHERE forecast_id = forecast
),
targets AS (
    SELECT DISTINCT target_export.time_period AS target, target_period.start_date
    FROM exports target_export
    JOIN time_periods target_period ON target_period.time_period_id = target_export.time_period
    WHERE target_export.forecast_id = forecast AND (period IS NULL OR target_export.time_period = period)
),
pairs AS (
    SELECT t.target, h.user_id, h.is_manager, coalesce(h.manager_user_id, '') AS manager_key, h.week_number,
           h.log_ratio
    FROM targets t
    JOIN past h ON h.period_end < t.start_date
)
SELECT target, 'own' AS level, user_id AS key, is_manager, week_number, count(*) AS n, median(log_ratio) AS m,
       coalesce(var_samp(log_ratio), 0) AS v
FROM pairs
GROUP BY ALL
UNION ALL
SELECT target, 'team', manager_key, is_manager, week_number, count(*), median(log_ratio), var_samp(log_ratio)
FROM pairs
GROUP BY ALL
HAVING count(*) >= 2
UNION ALL
SELECT target, 'org', '', is_manager, week_number, count(*), median(log_ratio), var_samp(log_ratio)
FROM pairs
GROUP BY ALL
HAVING count(*) >= 2;

-- mu, sigma and a quantile of the formula above, from a person's own n, m, v and their group's
-- m, v (no group: the person's own quarters alone).
CREATE OR REPLACE MACRO projection_weight(m_group) AS CASE WHEN m_group IS NULL THEN 0 ELSE projection_pooling() END;
CREATE OR REPLACE MACRO projection_mu(n, m_own, m_group) AS
    (n * coalesce(m_own, 0) + projection_weight(m_group) * coalesce(m_group, 0))
    / nullif(n + projection_weight(m_group), 0);
CREATE OR REPLACE MACRO projection_sigma(n, v_own, m_group, v_group) AS sqrt(
    (greatest(n - 1, 0) * coalesce(v_own, 0) + projection_weight(m_group) * coalesce(v_group, 0))
    / nullif(greatest(n - 1, 0) + projection_weight(m_group), 0)
    * (1 + 1 / nullif(n + projection_weight(m_group), 0)));
-- Closed won only grows: no quantile lies below what is already closed.
CREATE OR REPLACE MACRO projection_quantile(call, mu, sigma, z, closed) AS
    CASE WHEN call > 0 AND mu IS NOT NULL
         THEN greatest(call * exp(mu + z * coalesce(sigma, 0)), coalesce(closed, 0)) END;
CREATE OR REPLACE MACRO projection_method(n, pooled_toward, mu) AS
    CASE WHEN mu IS NULL THEN NULL
         WHEN n = 0 THEN 'log ratio of the ' || pooled_toward || ' (no quarters of their own)'
         WHEN pooled_toward IS NULL THEN 'log ratio, own quarters only'
         ELSE 'log ratio, own quarters pooled toward the ' || pooled_toward || ' (k = '
              || CAST(projection_pooling() AS VARCHAR) || ')' END;

-- The projection of every person and week of a forecast and period at an export (NULL: the
-- latest); `users`, `latest_week_only` and `week` narrow a past export's rows as in role_values_at.
CREATE OR REPLACE MACRO projection_at(forecast, period, export, users := NULL, latest_week_only := false,
                                      week := NULL) AS TABLE
WITH stats AS MATERIALIZED (
    SELECT * FROM projection_stats(forecast, period)
),
vals AS (
    SELECT v.*, w.week_number, w.start_date, coalesce(u.is_manager, false) AS is_manager, u.manager_user_id
    FROM role_values_at(forecast, period, export, users := users, latest_week_only := latest_week_only,
                        week := week) v
    JOIN week_numbers w ON w.time_period = v.time_period AND w.time_frame_id = v.time_frame_id
    LEFT JOIN user_directory u ON u.user_id = v.user_id
),
fitted AS (
    SELECT
        v.*,
        coalesce(o.n, 0) AS quarters_used,
        projection_mu(coalesce(o.n, 0), o.m, coalesce(t.m, g.m)) AS mu,
        projection_sigma(coalesce(o.n, 0), o.v, coalesce(t.m, g.m), coalesce(t.v, g.v)) AS sigma,
        CASE WHEN t.m IS NOT NULL THEN 'team' WHEN g.m IS NOT NULL THEN 'org' END AS pooled_toward
    FROM vals v
    LEFT JOIN stats o ON o.level = 'own' AND o.key = v.user_id AND o.week_number = v.week_number
    LEFT JOIN stats t ON t.level = 'team' AND t.key = coalesce(v.manager_user_id, '')
                     AND t.is_manager = v.is_manager AND t.week_number = v.week_number
    LEFT JOIN stats g ON g.level = 'org' AND g.is_manager = v.is_manager AND g.week_number = v.week_number
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
    projection_quantile(commit_amount, mu, sigma, -projection_z(), closed_amount) AS p10_amount,
    projection_quantile(commit_amount, mu, sigma, 0, closed_amount) AS p50_amount,
    greatest(projection_quantile(commit_amount, mu, sigma, projection_z(), closed_amount),
             projection_quantile(commit_amount, mu, sigma, 0, closed_amount)) AS p90_amount,
    quarters_used,
    projection_method(quarters_used, pooled_toward, mu) AS method
FROM fitted;

-- Each forecast's open periods (not yet ended at their latest export) at that export's latest week.
-- (The outer names are long on purpose: a macro's arguments are pasted into its body, where a short
-- alias such as `e` could name one of the macro's own tables.)
CREATE OR REPLACE VIEW forecast_projection AS
SELECT p.forecast_id, p.time_period, p.user_id, p.week_number, p.call_amount, p.closed_amount, p.p10_amount,
       p.p50_amount, p.p90_amount, p.quarters_used, p.method
FROM latest_exports open_export
JOIN time_periods open_period ON open_period.time_period_id = open_export.time_period
LEFT JOIN export_confirmations open_confirmed ON open_confirmed.export_id = open_export.export_id,
     projection_at(open_export.forecast_id, open_export.time_period, NULL, latest_week_only := true) p
WHERE NOT coalesce(open_period.end_date < CAST(greatest(open_export.exported_at, open_confirmed.confirmed_at) AS DATE),
                   false);

-- A forecast's ended quarters with projection_min_quarters() ended quarters before them, each
-- projected week by week from those alone (in one pass: projection_stats of every period), and
-- scored against what it closed.
CREATE OR REPLACE MACRO projection_backtest_of(forecast) AS TABLE
WITH stats AS MATERIALIZED (
    SELECT * FROM projection_stats(forecast, NULL)
),
quarters AS (
    SELECT DISTINCT time_period, period_start, period_end FROM projection_history WHERE forecast_id = forecast
),
eligible AS (
    -- A join, not a correlated count: DuckDB 1.5 fails to bind that subquery inside this macro.
    SELECT q.time_period
    FROM quarters q
    JOIN quarters b ON b.period_end < q.period_start
    GROUP BY q.time_period
    HAVING count(*) >= projection_min_quarters()
),
rows AS (
    SELECT h.*, v.closed_amount
    FROM projection_history h
    JOIN eligible USING (time_period)
    JOIN week_numbers w ON w.time_period = h.time_period AND w.week_number = h.week_number
    JOIN current_role_values v ON v.forecast_id = h.forecast_id AND v.time_period = h.time_period
                              AND v.time_frame_id = w.time_frame_id AND v.user_id = h.user_id
    WHERE h.forecast_id = forecast
),
fitted AS (
    SELECT
        r.*,
        projection_mu(coalesce(o.n, 0), o.m, coalesce(t.m, g.m)) AS mu,
        projection_sigma(coalesce(o.n, 0), o.v, coalesce(t.m, g.m), coalesce(t.v, g.v)) AS sigma
    FROM rows r
    LEFT JOIN stats o ON o.level = 'own' AND o.target = r.time_period AND o.key = r.user_id
                     AND o.week_number = r.week_number
    LEFT JOIN stats t ON t.level = 'team' AND t.target = r.time_period AND t.key = coalesce(r.manager_user_id, '')
                     AND t.is_manager = r.is_manager AND t.week_number = r.week_number
    LEFT JOIN stats g ON g.level = 'org' AND g.target = r.time_period AND g.is_manager = r.is_manager
                     AND g.week_number = r.week_number
),
scored AS (
    SELECT
        *,
        projection_quantile(call_amount, mu, sigma, -projection_z(), closed_amount) AS p10_amount,
        projection_quantile(call_amount, mu, sigma, 0, closed_amount) AS p50_amount,
        greatest(projection_quantile(call_amount, mu, sigma, projection_z(), closed_amount),
                 projection_quantile(call_amount, mu, sigma, 0, closed_amount)) AS p90_amount
    FROM fitted
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
WHERE p50_amount IS NOT NULL
GROUP BY ALL;

CREATE OR REPLACE VIEW projection_backtest AS
SELECT b.*
FROM (SELECT DISTINCT forecast_id FROM exports) backtest_forecast,
     projection_backtest_of(backtest_forecast.forecast_id) b
ORDER BY b.forecast_id, b.time_period, b.week_number;
