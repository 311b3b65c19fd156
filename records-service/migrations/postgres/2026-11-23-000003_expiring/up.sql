-- When the scheduler announced that the recertification window opened (once per cycle).
ALTER TABLE certifications ADD COLUMN expiring_announced_at TIMESTAMP NULL;
CREATE INDEX certifications_to_announce ON certifications (expires_at) WHERE expiring_announced_at IS NULL;
