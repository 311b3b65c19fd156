-- Attachments' raw data, once per tenant and SHA-2 (statements name them by hash).
CREATE TABLE xapi_attachments (
    tenant_id    TEXT NOT NULL,
    sha2         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content      BYTEA NOT NULL,
    stored_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, sha2)
);
