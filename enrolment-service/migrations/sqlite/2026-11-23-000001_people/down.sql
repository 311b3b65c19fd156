DROP TABLE idempotency_keys;
DROP TABLE person_attributes;
DROP TABLE people;
