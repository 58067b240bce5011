-- Every period's id with Clari's label and year ("Q4", "2026"), for naming it on the pages.
SELECT time_period_id, label, year
FROM time_periods
ORDER BY time_period_id;
