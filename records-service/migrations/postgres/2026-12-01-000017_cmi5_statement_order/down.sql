ALTER TABLE cmi5_sessions DROP COLUMN terminated_timestamp;
ALTER TABLE cmi5_sessions DROP COLUMN latest_timestamp;
ALTER TABLE cmi5_sessions DROP COLUMN initialized_timestamp;
