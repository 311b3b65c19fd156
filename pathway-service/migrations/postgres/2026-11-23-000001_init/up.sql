-- pathway-service schema. Every table carries tenant_id; every query filters on it.
-- Portable types only (TEXT, INTEGER, BIGINT, BOOLEAN, TIMESTAMP in UTC) so the same diesel
-- queries run on PostgreSQL and SQLite. Empty string means "none" for optional references.

CREATE TABLE categories (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    parent_id   TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    -- lower-cased name: sibling names are unique ignoring case
    name_key    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    sort_order  INTEGER NOT NULL DEFAULT 0,
    depth       INTEGER NOT NULL DEFAULT 0,
    revision    BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX categories_sibling_name ON categories (tenant_id, parent_id, name_key);
CREATE INDEX categories_children ON categories (tenant_id, parent_id, sort_order, id);

CREATE TABLE pathways (
    id                          TEXT PRIMARY KEY,
    tenant_id                   TEXT NOT NULL,
    title                       TEXT NOT NULL,
    description                 TEXT NOT NULL DEFAULT '',
    category_id                 TEXT NOT NULL DEFAULT '',
    outcome                     TEXT NOT NULL,
    sequencing                  TEXT NOT NULL,
    completion_rule             TEXT NOT NULL,
    completion_min_steps        INTEGER NOT NULL DEFAULT 0,
    estimated_duration_minutes  INTEGER NOT NULL DEFAULT 0,
    -- JSON array of strings
    tags                        TEXT NOT NULL DEFAULT '[]',
    validity_days               INTEGER NOT NULL DEFAULT 0,
    recertification_window_days INTEGER NOT NULL DEFAULT 0,
    has_certification           BOOLEAN NOT NULL DEFAULT FALSE,
    status                      TEXT NOT NULL,
    latest_version              INTEGER NOT NULL DEFAULT 0,
    has_unpublished_changes     BOOLEAN NOT NULL DEFAULT TRUE,
    revision                    BIGINT NOT NULL DEFAULT 1,
    created_at                  TIMESTAMP NOT NULL,
    created_by                  TEXT NOT NULL,
    updated_at                  TIMESTAMP NOT NULL,
    updated_by                  TEXT NOT NULL
);
CREATE INDEX pathways_by_tenant ON pathways (tenant_id, id);
CREATE INDEX pathways_by_category ON pathways (tenant_id, category_id);

CREATE TABLE steps (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    pathway_id        TEXT NOT NULL REFERENCES pathways (id),
    position          INTEGER NOT NULL,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    required          BOOLEAN NOT NULL,
    -- JSON array of step ids
    prerequisites     TEXT NOT NULL DEFAULT '[]',
    estimated_minutes INTEGER NOT NULL DEFAULT 0,
    kind              TEXT NOT NULL,
    -- JSON object with the kind's details
    detail            TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    created_by        TEXT NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    updated_by        TEXT NOT NULL
);
CREATE INDEX steps_by_pathway ON steps (tenant_id, pathway_id, position);

-- Immutable published snapshots.
CREATE TABLE pathway_versions (
    tenant_id    TEXT NOT NULL,
    pathway_id   TEXT NOT NULL REFERENCES pathways (id),
    version      INTEGER NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    category_id  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    -- the whole pathway as published, steps included (JSON)
    snapshot     TEXT NOT NULL,
    published_at TIMESTAMP NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (pathway_id, version)
);
CREATE INDEX pathway_versions_by_tenant ON pathway_versions (tenant_id, pathway_id);

-- request_id of creates already done: a retried create returns the first result.
CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, operation, request_id)
);
