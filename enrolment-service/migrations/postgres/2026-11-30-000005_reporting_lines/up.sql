-- A manager's direct reports, and each step of walking their team down the reporting lines.
CREATE INDEX people_by_manager ON people (tenant_id, manager_external_id);
