DROP INDEX enrolments_by_pathway_learner;
CREATE INDEX enrolments_by_pathway ON enrolments (tenant_id, pathway_id);
