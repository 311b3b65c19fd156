ALTER TABLE certifications DROP COLUMN grace_days;
DROP TABLE evidence;
ALTER TABLE activities DROP COLUMN max_attempts;
ALTER TABLE activities DROP COLUMN attempt_number;
