-- Coverage: open pipeline / remaining quota; undefined once the quota is met (remaining <= 0).
-- Used by the pipeline_coverage view and the weekly totals (queries/weekly_totals.sql).
CREATE OR REPLACE MACRO coverage_ratio(open_pipeline, remaining_quota) AS
    CASE WHEN remaining_quota > 0 THEN open_pipeline / remaining_quota END;
