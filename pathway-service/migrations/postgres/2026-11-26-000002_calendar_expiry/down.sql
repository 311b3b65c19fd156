ALTER TABLE pathways DROP COLUMN grace_days;
ALTER TABLE pathways DROP COLUMN expiry_day;
ALTER TABLE pathways DROP COLUMN expiry_month;
