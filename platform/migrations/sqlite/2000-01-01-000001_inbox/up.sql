-- The consumer side of the outbox (platform::inbox): ids of events already applied, written in
-- the same transaction as their effect, so a redelivered event is acknowledged, not reapplied.
CREATE TABLE processed_events (
    event_id     TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    type_url     TEXT NOT NULL,
    processed_at TIMESTAMP NOT NULL
);
