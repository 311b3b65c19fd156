-- Target audiences: static member lists, or dynamic rules over the directory.
CREATE TABLE audiences (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- lower-cased name: names are unique ignoring case
    name_key    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    rule        TEXT NOT NULL DEFAULT '',
    revision    BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX audiences_by_name ON audiences (tenant_id, name_key);

CREATE TABLE audience_members (
    tenant_id   TEXT NOT NULL,
    audience_id TEXT NOT NULL REFERENCES audiences (id),
    person_id   TEXT NOT NULL REFERENCES people (id),
    added_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (audience_id, person_id)
);
CREATE INDEX audience_members_by_person ON audience_members (tenant_id, person_id);
