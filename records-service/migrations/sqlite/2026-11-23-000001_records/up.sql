-- records-service's projection of enrolments (from enrolment-service's events).
CREATE TABLE enrolments (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    learner         TEXT NOT NULL,
    pathway_id      TEXT NOT NULL,
    pathway_version INTEGER NOT NULL,
    status          TEXT NOT NULL,
    requirement     TEXT NOT NULL,
    assigned_at     TIMESTAMP NOT NULL,
    due_at          TIMESTAMP NULL,
    -- when the pathway's completion rule was first met (set by this service)
    completed_at    TIMESTAMP NULL,
    -- the enrolment's revision in enrolment-service: older events never overwrite newer ones
    source_revision BIGINT NOT NULL
);
CREATE INDEX enrolments_by_learner ON enrolments (tenant_id, learner, pathway_id);
CREATE INDEX enrolments_by_pathway ON enrolments (tenant_id, pathway_id);

-- Published pathway versions, immutable, cached from pathway-service.
CREATE TABLE pathway_versions (
    tenant_id  TEXT NOT NULL,
    pathway_id TEXT NOT NULL,
    version    INTEGER NOT NULL,
    snapshot   TEXT NOT NULL,
    fetched_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, pathway_id, version)
);

-- The append-only learner record.
CREATE TABLE activities (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
    step_id      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    score        REAL NOT NULL DEFAULT 0,
    max_score    REAL NOT NULL DEFAULT 0,
    evidence_url TEXT NOT NULL DEFAULT '',
    note         TEXT NOT NULL DEFAULT '',
    recorded_at  TIMESTAMP NOT NULL
);
CREATE INDEX activities_by_enrolment ON activities (tenant_id, enrolment_id, id);

CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, operation, request_id)
);
