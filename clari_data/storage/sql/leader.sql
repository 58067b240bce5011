-- The leader lock of a lake's writer (backends/lake.py: PostgresLeadership): PostgreSQL itself,
-- through psycopg on a connection of its own to the catalog's database, so %(name)s parameters.

-- name: keepalive
-- Server-side keepalives of the lock's session: a leader whose machine dies without closing its
-- socket loses the lock after about idle + interval x count.
SELECT set_config(%(name)s, %(value)s, false);

-- name: try_lock
SELECT pg_try_advisory_lock(%(key)s);

-- name: alive
SELECT 1;

-- name: lock_holder
-- Who holds the lock, for a standby's log: a bigint key shows in pg_locks as two 32-bit halves.
SELECT a.application_name, a.client_addr::text, a.pid FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
AND l.classid::bigint = %(high)s AND l.objid::bigint = %(low)s;
