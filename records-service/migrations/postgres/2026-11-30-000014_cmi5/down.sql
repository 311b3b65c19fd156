DROP TABLE cmi5_units;
DROP TABLE cmi5_sessions;
