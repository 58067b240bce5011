-- Weeks of each period numbered from 1 in timeFrameId order (Clari sends them unordered).
CREATE OR REPLACE VIEW week_numbers AS
SELECT
    time_period_id AS time_period,
    time_frame_id,
    start_date,
    end_date,
    row_number() OVER (PARTITION BY time_period_id ORDER BY time_frame_id) AS week_number
FROM time_frames;
