-- The embedded file (backends/file.py): its upkeep and size.

-- name: checkpoint
CHECKPOINT;

-- name: database_size
SELECT block_size, used_blocks FROM pragma_database_size();
