-- Instructor-led sessions of training steps. A session belongs to a pathway's step (step ids
-- are kept across versions), not to a version. The counts of booked and waitlisted seats are
-- kept on the row, changed only under the session's lock, so a booking reads one row.
CREATE TABLE training_sessions (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL,
    pathway_id            TEXT NOT NULL,
    step_id               TEXT NOT NULL,
    pathway_title         TEXT NOT NULL,
    step_title            TEXT NOT NULL,
    start_at              TIMESTAMP NOT NULL,
    end_at                TIMESTAMP NOT NULL,
    time_zone             TEXT NOT NULL,
    location              TEXT NOT NULL DEFAULT '',
    meeting_url           TEXT NOT NULL DEFAULT '',
    capacity              INTEGER NOT NULL,
    booking_deadline      TIMESTAMP NOT NULL,
    cancellation_deadline TIMESTAMP NOT NULL,
    state                 TEXT NOT NULL,
    cancel_reason         TEXT NOT NULL DEFAULT '',
    booked_count          INTEGER NOT NULL DEFAULT 0,
    waitlist_count        INTEGER NOT NULL DEFAULT 0,
    revision              BIGINT NOT NULL DEFAULT 1,
    created_at            TIMESTAMP NOT NULL,
    created_by            TEXT NOT NULL,
    updated_at            TIMESTAMP NOT NULL,
    updated_by            TEXT NOT NULL
);
CREATE INDEX training_sessions_by_step ON training_sessions (tenant_id, step_id, start_at, id);
CREATE INDEX training_sessions_by_start ON training_sessions (tenant_id, start_at, id);

-- Who teaches a session (for "my sessions" and who may mark attendance).
CREATE TABLE session_instructors (
    tenant_id  TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES training_sessions (id),
    instructor TEXT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, instructor)
);
CREATE INDEX session_instructors_by_instructor ON session_instructors (tenant_id, instructor);

-- Seats and the waitlist. The waitlist's order is the booking ids' (UUIDv7, time-ordered).
CREATE TABLE session_bookings (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    session_id      TEXT NOT NULL REFERENCES training_sessions (id),
    step_id         TEXT NOT NULL,
    enrolment_id    TEXT NOT NULL,
    learner         TEXT NOT NULL,
    state           TEXT NOT NULL,
    booked_by       TEXT NOT NULL,
    booked_at       TIMESTAMP NOT NULL,
    override_reason TEXT NOT NULL DEFAULT '',
    cancelled_at    TIMESTAMP NULL,
    cancel_reason   TEXT NOT NULL DEFAULT '',
    attendance      TEXT NOT NULL DEFAULT ''
);
-- One live booking (a seat or a place on a waitlist) per enrolment and step.
CREATE UNIQUE INDEX session_bookings_one_live ON session_bookings (tenant_id, enrolment_id, step_id)
    WHERE state IN ('BOOKED', 'WAITLISTED');
CREATE INDEX session_bookings_by_session ON session_bookings (tenant_id, session_id, state, id);
CREATE INDEX session_bookings_by_learner ON session_bookings (tenant_id, learner, id);

-- The attendance log: append-only; a correction is a new entry naming the one it corrects.
CREATE TABLE attendance_marks (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    session_id  TEXT NOT NULL REFERENCES training_sessions (id),
    booking_id  TEXT NOT NULL REFERENCES session_bookings (id),
    learner     TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    marked_by   TEXT NOT NULL,
    marked_at   TIMESTAMP NOT NULL,
    corrects    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attendance_marks_by_session ON attendance_marks (tenant_id, session_id, id);
