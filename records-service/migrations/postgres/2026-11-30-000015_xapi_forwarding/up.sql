-- Where a tenant's statements are forwarded (another LRS), if anywhere. The password is kept
-- as given: the suite must present it to the other store.
CREATE TABLE xapi_forwarding (
    tenant_id  TEXT PRIMARY KEY,
    endpoint   TEXT NOT NULL,
    username   TEXT NOT NULL,
    password   TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);
