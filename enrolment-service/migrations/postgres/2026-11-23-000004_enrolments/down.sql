DROP TABLE enrolment_due_changes;
DROP TABLE enrolments;
DROP TABLE assignments;
