DROP TABLE person_erasures;
