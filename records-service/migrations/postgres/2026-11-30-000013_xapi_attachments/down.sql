DROP TABLE xapi_attachments;
