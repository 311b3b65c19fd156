-- xAPI's document resources: State (activity, agent, registration), Activity Profile
-- (activity) and Agent Profile (agent) documents, opaque bytes with their media type and
-- SHA-1 ETag. agent is the agent's identity key; '' where the kind has no such part.
CREATE TABLE xapi_documents (
    tenant_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    activity_id  TEXT NOT NULL,
    agent        TEXT NOT NULL,
    registration TEXT NOT NULL,
    document_id  TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content      BLOB NOT NULL,
    etag         TEXT NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, kind, activity_id, agent, registration, document_id)
);

-- The Activities resource: each activity's definition as statements gave it, language maps
-- merged (the newest text for a language wins), other properties the newest.
CREATE TABLE xapi_activities (
    tenant_id   TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    definition  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, activity_id)
);
