-- Users with their place in the hierarchy. A manager is a user whose role is someone's parent
-- role; manager_user_id is the user holding a user's parent role.
CREATE OR REPLACE VIEW user_directory AS
SELECT
    u.*,
    EXISTS (SELECT 1 FROM users r WHERE r.parent_hierarchy_id = u.hierarchy_id) AS is_manager,
    (SELECT min(m.user_id) FROM users m WHERE m.hierarchy_id = u.parent_hierarchy_id) AS manager_user_id
FROM users u;
