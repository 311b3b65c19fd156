DROP TABLE xapi_activities;
DROP TABLE xapi_documents;
