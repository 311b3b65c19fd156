-- Academic classes and their students and instructors.
CREATE TABLE classes (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    code       TEXT NOT NULL,
    -- lower-cased code: codes are unique ignoring case
    code_key   TEXT NOT NULL,
    name       TEXT NOT NULL,
    term       TEXT NOT NULL DEFAULT '',
    start_date DATE NOT NULL,
    end_date   DATE NOT NULL,
    revision   BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE UNIQUE INDEX classes_by_code ON classes (tenant_id, code_key);

CREATE TABLE class_members (
    tenant_id TEXT NOT NULL,
    class_id  TEXT NOT NULL REFERENCES classes (id),
    person_id TEXT NOT NULL REFERENCES people (id),
    role      TEXT NOT NULL,
    added_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (class_id, person_id)
);
CREATE INDEX class_members_by_person ON class_members (tenant_id, person_id);
