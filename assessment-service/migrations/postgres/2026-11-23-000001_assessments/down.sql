DROP TABLE idempotency_keys; DROP TABLE attempts; DROP TABLE assessments; DROP TABLE questions; DROP TABLE question_banks;
