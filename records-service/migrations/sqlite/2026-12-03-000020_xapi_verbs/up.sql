-- What statements say a verb is called, per language (the newest text for each language),
-- shown in place of a statement's own `display` when it is read in `canonical` format.
CREATE TABLE xapi_verbs (
    tenant_id  TEXT NOT NULL,
    verb_id    TEXT NOT NULL,
    display    TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, verb_id)
);
