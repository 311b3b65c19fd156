-- LRS clients: HTTP Basic credentials for the Learning Record Store, per tenant. Keys are
-- unique across tenants (a request names only its key); only the secret's SHA-256 is kept.
CREATE TABLE xapi_clients (
    key         TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    can_read    BOOLEAN NOT NULL DEFAULT 0,
    can_write   BOOLEAN NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE INDEX xapi_clients_by_tenant ON xapi_clients (tenant_id, created_at);
