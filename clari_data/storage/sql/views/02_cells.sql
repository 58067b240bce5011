-- A cell's number: the call for call fields, else the quota, else the CRM total.
CREATE OR REPLACE MACRO cell_amount(forecast_value, quota_value, aggregation_total) AS
    coalesce(forecast_value, quota_value, aggregation_total);

-- Whether two versions of a cell carry the same values.
CREATE OR REPLACE MACRO same_cell(a, b) AS
    a.forecast_value IS NOT DISTINCT FROM b.forecast_value
    AND a.quota_value IS NOT DISTINCT FROM b.quota_value
    AND a.adjustment_value IS NOT DISTINCT FROM b.adjustment_value
    AND a.aggregation_total IS NOT DISTINCT FROM b.aggregation_total
    AND a.is_updated IS NOT DISTINCT FROM b.is_updated
    AND a.updated_by IS NOT DISTINCT FROM b.updated_by
    AND a.updated_on IS NOT DISTINCT FROM b.updated_on
    AND a.adjusted_by IS NOT DISTINCT FROM b.adjusted_by
    AND a.adjusted_on IS NOT DISTINCT FROM b.adjusted_on
    AND a.currency IS NOT DISTINCT FROM b.currency;
