-- cmi5 launch sessions, one per launch of an assignable unit. Session ids are unique across
-- tenants (a fetch URL and an auth token name only theirs); only secrets' SHA-256 are kept.
CREATE TABLE cmi5_sessions (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    enrolment_id      TEXT NOT NULL,
    step_id           TEXT NOT NULL,
    fetch_hash        TEXT NOT NULL,
    -- Set when the fetch URL is used (once).
    auth_hash         TEXT,
    -- The cmi5 defined verbs the AU sent in the session, in order, space separated.
    verbs             TEXT NOT NULL DEFAULT '',
    launched_at       TIMESTAMP NOT NULL,
    last_statement_at TIMESTAMP,
    -- Terminated or abandoned.
    ended_at          TIMESTAMP
);
CREATE INDEX cmi5_sessions_open ON cmi5_sessions (tenant_id, enrolment_id) WHERE ended_at IS NULL;

-- What each assignable unit achieved in a registration (an enrolment), across its sessions.
CREATE TABLE cmi5_units (
    tenant_id    TEXT NOT NULL,
    enrolment_id TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    completed    BOOLEAN NOT NULL DEFAULT FALSE,
    passed       BOOLEAN NOT NULL DEFAULT FALSE,
    -- When its moveOn criteria were met (or it was waived).
    satisfied_at TIMESTAMP,
    PRIMARY KEY (tenant_id, enrolment_id, step_id)
);
