-- When the first and the latest export of any forecast and period were taken (NULL: none yet).
SELECT min(exported_at) AS first_exported_at, max(exported_at) AS latest_exported_at
FROM exports;
