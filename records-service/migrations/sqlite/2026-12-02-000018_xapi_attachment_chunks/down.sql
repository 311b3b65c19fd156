ALTER TABLE xapi_attachments ADD COLUMN content BLOB NOT NULL DEFAULT '';
DROP TABLE xapi_attachment_chunks;
ALTER TABLE xapi_attachments DROP COLUMN size;
