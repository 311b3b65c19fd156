DROP TABLE outbox_deliveries;
DROP INDEX outbox_events_to_fan_out;
ALTER TABLE outbox_events RENAME COLUMN fanned_out_at TO delivered_at;
ALTER TABLE outbox_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox_events ADD COLUMN next_attempt_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE outbox_events ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_events_pending ON outbox_events (next_attempt_at, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_events_pending_in_order ON outbox_events (created_at, id) WHERE delivered_at IS NULL;
