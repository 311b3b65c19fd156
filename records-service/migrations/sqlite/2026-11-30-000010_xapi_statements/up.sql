-- The Learning Record Store's statements (xAPI): the JSON as stored, and what reads order,
-- void and compare by. Ordered by (stored, id); ids are lowercase UUIDs.
CREATE TABLE xapi_statements (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    stored           TIMESTAMP NOT NULL,
    -- The id a StatementRef object targets ('' when the object is something else).
    target_statement TEXT NOT NULL DEFAULT '',
    -- A voiding statement: the id it voids ('' otherwise).
    voids            TEXT NOT NULL DEFAULT '',
    voided           BOOLEAN NOT NULL DEFAULT 0,
    -- SHA-256 of the statement as the client sent it, less what the store sets: a repeated
    -- PUT or POST of the same id is accepted only when this is equal.
    fingerprint      TEXT NOT NULL,
    document         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX xapi_statements_by_stored ON xapi_statements (tenant_id, stored, id);
CREATE INDEX xapi_statements_by_target ON xapi_statements (tenant_id, target_statement)
    WHERE target_statement <> '';
CREATE INDEX xapi_statements_by_voids ON xapi_statements (tenant_id, voids)
    WHERE voids <> '';

-- What the agent, verb, activity and registration filters match, one row per statement and
-- value: the statement's own values and those of the statements it targets by StatementRef
-- (xAPI: a statement targeting a match matches). related: matched only with related_agents /
-- related_activities. stored is repeated so a filter reads its rows in the order results go.
CREATE TABLE xapi_statement_keys (
    tenant_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    related      BOOLEAN NOT NULL,
    stored       TIMESTAMP NOT NULL,
    statement_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, key, related, stored, statement_id)
);
CREATE INDEX xapi_statement_keys_by_statement ON xapi_statement_keys (tenant_id, statement_id);
