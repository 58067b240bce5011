-- The selection's headline (in_headline) projected week by week at an export ($export_id, NULL:
-- the latest; a past export is pivoted for $users only, the headline's): each week's call, closed
-- won, quota and P10 / P50 / P90, summed over the headline's people.
SELECT
    p.week_number,
    p.time_frame_id,
    p.start_date,
    count(*) AS users,
    sum(p.call_amount) AS call_amount,
    sum(p.closed_amount) AS closed_amount,
    sum(p.quota_amount) AS quota_amount,
    sum(p.p10_amount) AS p10_amount,
    sum(p.p50_amount) AS p50_amount,
    sum(p.p90_amount) AS p90_amount
FROM projection_at($forecast_id, $time_period, $export_id, users := $users) p
JOIN user_directory u USING (user_id)
WHERE in_headline(p.user_id, u.manager_user_id, $team, $reps)
GROUP BY ALL
ORDER BY p.week_number;
