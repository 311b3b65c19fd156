DROP TABLE idempotency_keys; DROP TABLE activities; DROP TABLE pathway_versions; DROP TABLE enrolments;
