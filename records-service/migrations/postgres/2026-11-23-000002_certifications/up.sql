-- Certification cycles: one row per issue, never overwritten.
CREATE TABLE certifications (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    learner           TEXT NOT NULL,
    pathway_id        TEXT NOT NULL,
    pathway_title     TEXT NOT NULL,
    pathway_version   INTEGER NOT NULL,
    enrolment_id      TEXT NOT NULL,
    cycle             INTEGER NOT NULL,
    completed_at      TIMESTAMP NOT NULL,
    issued_at         TIMESTAMP NOT NULL,
    expires_at        TIMESTAMP NULL,
    window_days       INTEGER NOT NULL DEFAULT 0,
    verification_code TEXT NOT NULL,
    revoked_at        TIMESTAMP NULL,
    revoke_reason     TEXT NOT NULL DEFAULT '',
    revoked_by        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX certifications_by_code ON certifications (verification_code);
CREATE UNIQUE INDEX certifications_cycle ON certifications (tenant_id, learner, pathway_id, cycle);
CREATE UNIQUE INDEX certifications_by_enrolment ON certifications (tenant_id, enrolment_id);
