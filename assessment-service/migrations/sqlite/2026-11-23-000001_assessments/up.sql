-- Question banks and their questions (each question's definition as JSON, its kind inside).
CREATE TABLE question_banks (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    revision    BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX question_banks_by_name ON question_banks (tenant_id, name_key);

CREATE TABLE questions (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    bank_id     TEXT NOT NULL REFERENCES question_banks (id),
    -- ' tag1 tag2 ' (lower-cased, space-delimited) for tag filters
    tags        TEXT NOT NULL DEFAULT '',
    definition  TEXT NOT NULL,
    revision    BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE INDEX questions_by_bank ON questions (tenant_id, bank_id, id);

-- Assessments: their settings as columns, their question source as JSON.
CREATE TABLE assessments (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    pathway_id  TEXT NOT NULL,
    definition  TEXT NOT NULL,
    revision    BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE INDEX assessments_by_pathway ON assessments (tenant_id, pathway_id, id);

-- Attempts keep the questions as they were served (with their keys), the answers and grades.
CREATE TABLE attempts (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    assessment_id TEXT NOT NULL REFERENCES assessments (id),
    learner       TEXT NOT NULL,
    number        INTEGER NOT NULL,
    status        TEXT NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    deadline      TIMESTAMP NULL,
    submitted_at  TIMESTAMP NULL,
    served        TEXT NOT NULL,
    answers       TEXT NOT NULL,
    grades        TEXT NOT NULL,
    score         REAL NOT NULL DEFAULT 0,
    max_score     REAL NOT NULL DEFAULT 0,
    passed        BOOLEAN NOT NULL DEFAULT FALSE,
    revision      BIGINT NOT NULL DEFAULT 1
);
-- One attempt number per learner and assessment: concurrent starts cannot both be number 3.
CREATE UNIQUE INDEX attempts_by_learner ON attempts (tenant_id, assessment_id, learner, number);
CREATE INDEX attempts_awaiting ON attempts (tenant_id, status, submitted_at);

-- Idempotent creates (platform::idempotency).
CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, operation, request_id)
);
