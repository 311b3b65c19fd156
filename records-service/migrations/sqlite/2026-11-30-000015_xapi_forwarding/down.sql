DROP TABLE xapi_forwarding;
