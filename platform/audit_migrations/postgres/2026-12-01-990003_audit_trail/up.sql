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
    resource TEXT COLLATE "C" NOT NULL,
    request_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_entries_by_actor ON audit_entries (tenant_id, actor, id);
CREATE INDEX audit_entries_by_resource ON audit_entries (tenant_id, resource, id);

-- Erasing a person's data (lms_platform::privacy) is the one change an entry admits: its actor,
-- and the person's id in its fields, become a pseudonym. The erasing transaction holds a permit
-- row for its tenant only while it rewrites; other transactions never see it. Every other
-- UPDATE, every DELETE and TRUNCATE is refused.
CREATE TABLE audit_erasure_permits (
    tenant_id TEXT PRIMARY KEY
);

CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.tenant_id = OLD.tenant_id
        AND EXISTS (SELECT 1 FROM audit_erasure_permits WHERE tenant_id = OLD.tenant_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only();
