-- How far the learner record's statements have been made for what was recorded before the
-- record kept them (step activities, certifications, manual records): per tenant and source,
-- the last record done, and whether the source is done. records-service makes them at start,
-- in batches, resuming from here.
CREATE TABLE xapi_backfill (
    tenant_id TEXT NOT NULL,
    source    TEXT NOT NULL,
    last_id   TEXT NOT NULL,
    done      BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, source)
);
