-- Every cell as the latest export of its forecast and period has it.
CREATE OR REPLACE VIEW current_cells AS
SELECT * EXCLUDE (valid_to)
FROM cell_versions
WHERE valid_to IS NULL;
