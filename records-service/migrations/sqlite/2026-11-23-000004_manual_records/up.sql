-- Training done outside the suite, recorded by admins; soft-deleted so the audit stays whole.
CREATE TABLE manual_records (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    learner      TEXT NOT NULL,
    title        TEXT NOT NULL,
    provider     TEXT NOT NULL DEFAULT '',
    completed_at TIMESTAMP NOT NULL,
    hours        REAL NOT NULL DEFAULT 0,
    evidence_url TEXT NOT NULL DEFAULT '',
    revision     BIGINT NOT NULL DEFAULT 1,
    created_at   TIMESTAMP NOT NULL,
    created_by   TEXT NOT NULL,
    deleted_at   TIMESTAMP NULL
);
CREATE INDEX manual_records_by_learner ON manual_records (tenant_id, learner, id);

-- Every admin change: who, when, what (the record as JSON) and why.
CREATE TABLE manual_record_changes (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    record_id  TEXT NOT NULL REFERENCES manual_records (id),
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    reason     TEXT NOT NULL,
    snapshot   TEXT NOT NULL
);
CREATE INDEX manual_record_changes_by_record ON manual_record_changes (tenant_id, record_id, id);
