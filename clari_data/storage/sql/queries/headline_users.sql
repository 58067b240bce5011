-- The users a selection's headline sums (in_headline), bound before a past export's weekly totals
-- so that only their role value versions are read.
SELECT coalesce(list(user_id ORDER BY user_id), []) AS users
FROM user_directory
WHERE in_headline(user_id, manager_user_id, $team, $reps);
