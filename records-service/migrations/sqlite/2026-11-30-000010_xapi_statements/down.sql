DROP TABLE xapi_statement_keys;
DROP TABLE xapi_statements;
