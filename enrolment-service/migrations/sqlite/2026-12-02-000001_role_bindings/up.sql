-- Scoped administration (lms.enrolment.v1.RoleBindingService): a person holds a role on a part
-- of the tenant. scope_id is '' for the whole tenant; a department's name otherwise an id.
CREATE TABLE role_bindings (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    role TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (tenant_id, principal, role, scope_kind, scope_id)
);
-- Listing in creation order (UUIDv7 ids sort by time).
CREATE INDEX role_bindings_by_tenant ON role_bindings (tenant_id, id);
