-- Assignments (a pathway given to an audience or a class) and enrolments (a learner on a
-- pathway version).
CREATE TABLE assignments (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    pathway_id      TEXT NOT NULL,
    -- exactly one of the two is set; '' for the other
    audience_id     TEXT NOT NULL DEFAULT '',
    class_id        TEXT NOT NULL DEFAULT '',
    requirement     TEXT NOT NULL,
    -- NONE, FIXED (due_fixed_at), AFTER_ASSIGNMENT or AFTER_HIRE (due_days)
    due_kind        TEXT NOT NULL,
    due_fixed_at    TIMESTAMP NULL,
    due_days        INTEGER NOT NULL DEFAULT 0,
    leave_policy    TEXT NOT NULL,
    -- the published version new enrolments get
    pathway_version INTEGER NOT NULL,
    -- removed assignments stay for the enrolments that keep pointing at them
    removed_at      TIMESTAMP NULL,
    revision        BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMP NOT NULL,
    created_by      TEXT NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX assignments_by_pathway ON assignments (tenant_id, pathway_id);
-- A pathway is assigned to one audience or class at most once at a time.
CREATE UNIQUE INDEX assignments_live ON assignments (tenant_id, pathway_id, audience_id, class_id)
    WHERE removed_at IS NULL;
CREATE INDEX assignments_by_audience ON assignments (tenant_id, audience_id);
CREATE INDEX assignments_by_class ON assignments (tenant_id, class_id);

CREATE TABLE enrolments (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    person_id       TEXT NOT NULL REFERENCES people (id),
    -- the person's external id (immutable): how other services know the learner
    learner         TEXT NOT NULL,
    pathway_id      TEXT NOT NULL,
    pathway_version INTEGER NOT NULL,
    source          TEXT NOT NULL,
    -- '' unless source is ASSIGNMENT
    assignment_id   TEXT NOT NULL DEFAULT '',
    requirement     TEXT NOT NULL,
    status          TEXT NOT NULL,
    assigned_at     TIMESTAMP NOT NULL,
    due_at          TIMESTAMP NULL,
    started_at      TIMESTAMP NULL,
    withdrawn_at    TIMESTAMP NULL,
    withdrawal      TEXT NOT NULL DEFAULT '',
    withdraw_reason TEXT NOT NULL DEFAULT '',
    -- set while the person is outside the assignment's target (the leave policy was applied)
    lapsed_at       TIMESTAMP NULL,
    revision        BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMP NOT NULL,
    created_by      TEXT NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    updated_by      TEXT NOT NULL
);
-- At most one enrolment per learner and pathway is not withdrawn; CheckAccess reads this index.
CREATE UNIQUE INDEX enrolments_current ON enrolments (tenant_id, learner, pathway_id)
    WHERE status <> 'WITHDRAWN';
CREATE INDEX enrolments_by_person ON enrolments (tenant_id, person_id, pathway_id);
CREATE INDEX enrolments_by_pathway ON enrolments (tenant_id, pathway_id, id);
CREATE INDEX enrolments_by_learner ON enrolments (tenant_id, learner, id);
CREATE INDEX enrolments_by_assignment ON enrolments (tenant_id, assignment_id);

-- Every due-date change, with its reason and actor.
CREATE TABLE enrolment_due_changes (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    enrolment_id    TEXT NOT NULL REFERENCES enrolments (id),
    previous_due_at TIMESTAMP NULL,
    due_at          TIMESTAMP NOT NULL,
    reason          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    changed_at      TIMESTAMP NOT NULL
);
CREATE INDEX enrolment_due_changes_by_enrolment ON enrolment_due_changes (enrolment_id, id);
