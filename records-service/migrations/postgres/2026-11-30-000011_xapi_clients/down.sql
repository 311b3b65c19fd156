DROP TABLE xapi_clients;
