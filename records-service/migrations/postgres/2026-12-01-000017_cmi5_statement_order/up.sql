-- cmi5 orders a session's statements by their timestamps (cmi5 9.3), not their arrival: the
-- timestamps (UTC) of the session's initialized, of its latest statement and of its
-- terminated. Sessions from before are judged by arrival, as they were (all three NULL).
ALTER TABLE cmi5_sessions ADD COLUMN initialized_timestamp TIMESTAMP;
ALTER TABLE cmi5_sessions ADD COLUMN latest_timestamp TIMESTAMP;
ALTER TABLE cmi5_sessions ADD COLUMN terminated_timestamp TIMESTAMP;
