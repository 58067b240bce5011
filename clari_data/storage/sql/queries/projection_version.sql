-- What the learned projection depends on changes only with a load or a confirmation (which can end
-- a quarter): the key its per-version cache is kept under.
SELECT
    (SELECT coalesce(max(export_id), 0) FROM exports) AS data_version,
    (SELECT count(*) FROM export_confirmations) AS confirmations;
