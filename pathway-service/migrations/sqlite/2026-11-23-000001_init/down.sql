DROP TABLE idempotency_keys;
DROP TABLE pathway_versions;
DROP TABLE steps;
DROP TABLE pathways;
DROP TABLE categories;
