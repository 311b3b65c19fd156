-- The audit trail (lms_platform::audit, applied by every service): one entry per write a person makes, written in the
-- write's own transaction. Append-only: the triggers below refuse every UPDATE and DELETE.
CREATE TABLE audit_entries (
    tenant_id TEXT NOT NULL,
    -- UUIDv7: the newest entries sort last.
    id TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    actor_roles TEXT NOT NULL,
    action TEXT NOT NULL,
    -- Byte order, so that a resource's sub-resources ('pathways/1/steps/2') are a range scan
    -- of the index from 'pathways/1/'.
    resource TEXT NOT NULL,
    request_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_entries_by_actor ON audit_entries (tenant_id, actor, id);
CREATE INDEX audit_entries_by_resource ON audit_entries (tenant_id, resource, id);

-- Erasing a person's data (lms_platform::privacy) is the one change an entry admits: its actor,
-- and the person's id in its fields, become a pseudonym. The erasing transaction holds a permit
-- row for its tenant only while it rewrites. Every other UPDATE, and every DELETE, is refused.
CREATE TABLE audit_erasure_permits (
    tenant_id TEXT PRIMARY KEY NOT NULL
);

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
WHEN NEW.id <> OLD.id OR NEW.tenant_id <> OLD.tenant_id
    OR NOT EXISTS (SELECT 1 FROM audit_erasure_permits WHERE tenant_id = OLD.tenant_id)
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
