-- Calendar-anchored certification expiry (e.g. every 31 March; 0 and 0: completion + validity)
-- and a grace period after expiry.
ALTER TABLE pathways ADD COLUMN expiry_month INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pathways ADD COLUMN expiry_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pathways ADD COLUMN grace_days INTEGER NOT NULL DEFAULT 0;
