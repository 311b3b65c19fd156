-- A tenant's webhook subscriptions. The secret signs deliveries (HMAC needs the key itself, so
-- it is stored as given to the admin; see docs/security.md); during a rotation the previous
-- secret signs too until `previous_secret_until`.
CREATE TABLE webhooks (
    tenant_id             TEXT NOT NULL,
    id                    TEXT NOT NULL,
    url                   TEXT NOT NULL,
    -- Space-separated full message names, or `*`.
    event_types           TEXT NOT NULL,
    description           TEXT NOT NULL,
    -- active or disabled.
    state                 TEXT NOT NULL,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    secret                TEXT NOT NULL,
    previous_secret       TEXT NOT NULL DEFAULT '',
    previous_secret_until TIMESTAMP NULL,
    last_success_at       TIMESTAMP NULL,
    created_by            TEXT NOT NULL,
    created_at            TIMESTAMP NOT NULL,
    updated_at            TIMESTAMP NOT NULL,
    revision              BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- One row per event and webhook: the delivery log, and the sender's work. Written in the
-- transaction that applies the event, so no event is lost or queued twice for a webhook.
CREATE TABLE webhook_deliveries (
    tenant_id       TEXT NOT NULL,
    -- UUIDv7: the order events arrived in, which keeps each aggregate's events in order.
    id              TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    -- The CloudEvents JSON body, exactly as signed and sent.
    payload         TEXT NOT NULL,
    -- pending, succeeded or failed.
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until     TIMESTAMP NULL,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_latency_ms INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    last_attempt_at TIMESTAMP NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, webhook_id, event_id)
);
-- The sender's work: what is due.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- Order per aggregate: is an earlier delivery about the same aggregate still pending?
CREATE INDEX webhook_deliveries_pending_by_aggregate
    ON webhook_deliveries (tenant_id, webhook_id, aggregate_id, id) WHERE state = 'pending';
-- A webhook's delivery log, newest first.
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (tenant_id, webhook_id, id);
