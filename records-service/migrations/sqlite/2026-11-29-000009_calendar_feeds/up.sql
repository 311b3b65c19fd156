-- A person's calendar feed: a secret address calendar apps subscribe to. Only the secret's
-- SHA-256 is kept; one feed per person (a new one replaces the old).
CREATE TABLE calendar_feeds (
    tenant_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);
CREATE UNIQUE INDEX calendar_feeds_by_secret ON calendar_feeds (secret_hash);
