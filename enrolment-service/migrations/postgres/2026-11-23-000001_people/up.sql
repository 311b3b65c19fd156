-- enrolment-service: the learner directory. Every table carries tenant_id; every query filters
-- on it. Portable types only, as in every service.

CREATE TABLE people (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL,
    external_id         TEXT NOT NULL,
    email               TEXT NOT NULL DEFAULT '',
    display_name        TEXT NOT NULL,
    status              TEXT NOT NULL,
    department          TEXT NOT NULL DEFAULT '',
    job_title           TEXT NOT NULL DEFAULT '',
    location            TEXT NOT NULL DEFAULT '',
    manager_external_id TEXT NOT NULL DEFAULT '',
    hire_date           DATE NULL,
    revision            BIGINT NOT NULL DEFAULT 1,
    created_at          TIMESTAMP NOT NULL,
    created_by          TEXT NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    updated_by          TEXT NOT NULL
);
CREATE UNIQUE INDEX people_by_external_id ON people (tenant_id, external_id);
CREATE INDEX people_by_department ON people (tenant_id, department);

-- Custom attributes, one row each, so rules can match them in SQL.
CREATE TABLE person_attributes (
    tenant_id TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people (id),
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (person_id, key)
);
CREATE INDEX person_attributes_by_key ON person_attributes (tenant_id, key, value);

-- request_id of creates already done.
CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, operation, request_id)
);
