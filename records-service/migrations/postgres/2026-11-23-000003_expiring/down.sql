DROP INDEX certifications_to_announce; ALTER TABLE certifications DROP COLUMN expiring_announced_at;
