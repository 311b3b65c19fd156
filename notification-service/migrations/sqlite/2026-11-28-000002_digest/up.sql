-- A person may take their reminders by email as one daily digest: their reminders wait with
-- email_state 'digest' until the day's digest, which `last_digest_at` makes once a day.
ALTER TABLE notification_preferences ADD COLUMN digest BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE notification_preferences ADD COLUMN last_digest_at TIMESTAMP NULL;
CREATE INDEX notifications_in_digest ON notifications (tenant_id, recipient, created_at)
    WHERE email_state = 'digest';
