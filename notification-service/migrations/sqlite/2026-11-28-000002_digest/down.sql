DROP INDEX notifications_in_digest;
ALTER TABLE notification_preferences DROP COLUMN last_digest_at;
ALTER TABLE notification_preferences DROP COLUMN digest;
