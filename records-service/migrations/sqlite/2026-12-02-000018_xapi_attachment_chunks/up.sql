-- Attachments' raw data in parts of at most 256 KiB, so that storing one and answering it are
-- streamed rather than held whole in memory; xapi_attachments keeps what each is (its media
-- type and size). Data stored before moves into one part each.
CREATE TABLE xapi_attachment_chunks (
    tenant_id TEXT NOT NULL,
    sha2      TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (tenant_id, sha2, seq)
);
ALTER TABLE xapi_attachments ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
INSERT INTO xapi_attachment_chunks (tenant_id, sha2, seq, data)
    SELECT tenant_id, sha2, 0, content FROM xapi_attachments WHERE length(content) > 0;
UPDATE xapi_attachments SET size = length(content);
ALTER TABLE xapi_attachments DROP COLUMN content;
