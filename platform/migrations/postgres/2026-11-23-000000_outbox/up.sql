-- The transactional outbox (platform::outbox): events written in the same transaction as the
-- change that caused them, delivered by the dispatcher until the consumer acknowledges them.
CREATE TABLE outbox_events (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    type_url        TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    traceparent     TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    delivered_at    TIMESTAMP NULL,
    last_error      TEXT NOT NULL DEFAULT ''
);
-- What the dispatcher reads: undelivered events in write order.
CREATE INDEX outbox_events_pending ON outbox_events (next_attempt_at, id) WHERE delivered_at IS NULL;
