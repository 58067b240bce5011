-- What a refresh learned about the tenant and should not ask Clari again, e.g. that it refuses
-- the CRM export types (refresh.py: CRM_REFUSED).
CREATE TABLE tenant_facts (
    name       VARCHAR PRIMARY KEY,
    value      VARCHAR NOT NULL,
    learned_at TIMESTAMP NOT NULL
);
