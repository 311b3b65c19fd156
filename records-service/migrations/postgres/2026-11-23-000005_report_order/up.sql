-- Compliance reports page through a pathway's enrolments in learner order.
DROP INDEX enrolments_by_pathway;
CREATE INDEX enrolments_by_pathway_learner ON enrolments (tenant_id, pathway_id, learner);
