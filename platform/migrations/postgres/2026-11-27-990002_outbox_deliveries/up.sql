-- Many-to-many delivery (DESIGN §2): an event is written once to `outbox_events`; the dispatcher
-- then queues it for every destination subscribed to this service's events, one row each in
-- `outbox_deliveries`, so each destination has its own attempts, backoff and position, and a
-- slow or dead destination holds back no other. `fanned_out_at` says an event has been queued.
DROP INDEX outbox_events_pending;
DROP INDEX outbox_events_pending_in_order;
ALTER TABLE outbox_events RENAME COLUMN delivered_at TO fanned_out_at;
ALTER TABLE outbox_events DROP COLUMN attempts;
ALTER TABLE outbox_events DROP COLUMN next_attempt_at;
ALTER TABLE outbox_events DROP COLUMN last_error;
-- What the dispatcher still has to queue, in write order.
CREATE INDEX outbox_events_to_fan_out ON outbox_events (created_at, id) WHERE fanned_out_at IS NULL;

CREATE TABLE outbox_deliveries (
    destination      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    -- The event's, copied so each destination reads its queue in write order from one index.
    event_created_at TIMESTAMP NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    delivered_at     TIMESTAMP NULL,
    -- Set when the destination said it can never apply the event: a dead letter, until replayed.
    rejected_at      TIMESTAMP NULL,
    last_error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (destination, event_id)
);
-- A destination's queue in write order.
CREATE INDEX outbox_deliveries_pending ON outbox_deliveries (destination, event_created_at, event_id)
    WHERE delivered_at IS NULL AND rejected_at IS NULL;
-- A tenant's dead letters, oldest first.
CREATE INDEX outbox_deliveries_dead ON outbox_deliveries (tenant_id, event_created_at, event_id)
    WHERE rejected_at IS NOT NULL;
