-- The back-test of a forecast's ended quarters (projection_backtest), with each quarter's first day.
SELECT b.*, t.start_date AS period_start
FROM projection_backtest_of($forecast_id) b
JOIN time_periods t ON t.time_period_id = b.time_period
ORDER BY b.time_period, b.week_number;
