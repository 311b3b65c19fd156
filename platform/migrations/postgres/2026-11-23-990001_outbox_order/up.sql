-- The dispatcher reads undelivered events in write order (created_at, id): an index in that
-- order lets it stop after one batch instead of sorting every pending event each time.
CREATE INDEX outbox_events_pending_in_order ON outbox_events (created_at, id) WHERE delivered_at IS NULL;
