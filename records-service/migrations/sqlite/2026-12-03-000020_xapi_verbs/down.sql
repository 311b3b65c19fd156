DROP TABLE xapi_verbs;
