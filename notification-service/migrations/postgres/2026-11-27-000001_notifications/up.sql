-- What notification-service knows of each enrolment it was told about, and when its next
-- reminder is due. The scheduler reads only the rows whose reminder is due (the partial index),
-- so its cost grows with the reminders due, not with all enrolments.
CREATE TABLE tracked_enrolments (
    tenant_id        TEXT NOT NULL,
    enrolment_id     TEXT NOT NULL,
    person_id        TEXT NOT NULL,
    learner          TEXT NOT NULL,
    pathway_id       TEXT NOT NULL,
    mandatory        BOOLEAN NOT NULL,
    due_at           TIMESTAMP NULL,
    -- open, suspended, completed or withdrawn: only open enrolments are reminded.
    state            TEXT NOT NULL,
    -- enrolment-service's revision: an older event never overwrites a newer one.
    revision         BIGINT NOT NULL,
    next_reminder_at TIMESTAMP NULL,
    next_stage       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, enrolment_id)
);
CREATE INDEX tracked_enrolments_reminder_due ON tracked_enrolments (next_reminder_at)
    WHERE next_reminder_at IS NOT NULL;

-- Every notification, from the moment it is decided (by an event or the scheduler) until it is
-- in the recipient's inbox and, where they have an address, sent by email. `dedup_key` makes
-- deciding idempotent: the same reminder is never decided twice, whatever restarts, replicas
-- or redelivered events do.
CREATE TABLE notifications (
    tenant_id       TEXT NOT NULL,
    id              TEXT NOT NULL,
    dedup_key       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- The learner it is about (external id); an escalation goes to their manager.
    learner         TEXT NOT NULL,
    for_manager     BOOLEAN NOT NULL,
    -- Who receives it (external id), once resolved.
    recipient       TEXT NOT NULL DEFAULT '',
    enrolment_id    TEXT NOT NULL DEFAULT '',
    pathway_id      TEXT NOT NULL DEFAULT '',
    mandatory       BOOLEAN NOT NULL,
    -- JSON: what the templates need that the directory and pathways do not say (dates).
    facts           TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL DEFAULT '',
    -- pending (to prepare), ready (in the inbox), muted, cancelled or failed.
    state           TEXT NOT NULL,
    -- none, pending, sent or failed.
    email_state     TEXT NOT NULL,
    email_to        TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A replica working on the row holds it until then.
    lease_until     TIMESTAMP NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    read_at         TIMESTAMP NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, dedup_key)
);
-- A person's inbox, newest first.
CREATE INDEX notifications_inbox ON notifications (tenant_id, recipient, created_at, id)
    WHERE state = 'ready';
-- The sender's work: what to prepare, and what to email.
CREATE INDEX notifications_to_prepare ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_to_email ON notifications (next_attempt_at)
    WHERE state = 'ready' AND email_state = 'pending';

-- A tenant's own templates; the shipped defaults live in the code.
CREATE TABLE notification_templates (
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    locale     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, locale)
);

-- The optional kinds a person muted (comma-separated kind names).
CREATE TABLE notification_preferences (
    tenant_id  TEXT NOT NULL,
    person     TEXT NOT NULL,
    muted      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, person)
);
