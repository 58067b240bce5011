-- Which users a view's selection covers, besides its forecast and period. `reps` are the chosen
-- user ids (a list, maybe empty), `team` a manager's user id (or NULL).

-- The rows a headline sums: the chosen reps, else the chosen team's manager (whose numbers are
-- the team's roll-up), else the top of the hierarchy. Never a manager together with their reps.
CREATE OR REPLACE MACRO in_headline(user_id, manager_user_id, team, reps) AS
    CASE WHEN len(reps) > 0 THEN list_contains(reps, user_id)
         WHEN team IS NOT NULL THEN user_id = team
         ELSE manager_user_id IS NULL END;

-- The people a table lists: the chosen reps, else the chosen team's manager and direct reports,
-- else everyone.
CREATE OR REPLACE MACRO in_members(user_id, manager_user_id, team, reps) AS
    CASE WHEN len(reps) > 0 THEN list_contains(reps, user_id)
         WHEN team IS NOT NULL THEN manager_user_id = team OR user_id = team
         ELSE true END;
