-- What records-service needs to tell a learner why a step is blocked or waiting.

-- An assessment outcome's attempt number and the assessment's attempt limit (0: unlimited):
-- the last allowed attempt failed means the step is blocked.
ALTER TABLE activities ADD COLUMN attempt_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activities ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 0;

-- Evidence a learner submits for an EXTERNAL step, approved or rejected by an instructor or
-- admin. An approval completes the step; a rejection lets the learner submit again.
CREATE TABLE evidence (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    enrolment_id    TEXT NOT NULL REFERENCES enrolments (id),
    step_id         TEXT NOT NULL,
    step_title      TEXT NOT NULL,
    learner         TEXT NOT NULL,
    pathway_id      TEXT NOT NULL,
    description     TEXT NOT NULL,
    url             TEXT NOT NULL,
    file_reference  TEXT NOT NULL,
    -- PENDING, APPROVED, REJECTED
    status          TEXT NOT NULL,
    submitted_at    TIMESTAMP NOT NULL,
    decided_by      TEXT NOT NULL DEFAULT '',
    decided_at      TIMESTAMP NULL,
    decision_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX evidence_queue ON evidence (tenant_id, status, id);
CREATE INDEX evidence_by_enrolment ON evidence (tenant_id, enrolment_id, step_id);

-- Days after expiry during which a certification is still EXPIRING (its holder compliant),
-- copied from the pathway's policy when issued.
ALTER TABLE certifications ADD COLUMN grace_days INTEGER NOT NULL DEFAULT 0;
