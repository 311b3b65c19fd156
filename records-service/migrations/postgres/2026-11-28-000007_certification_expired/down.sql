DROP INDEX certifications_to_expire;
ALTER TABLE certifications DROP COLUMN expired_announced_at;
