-- The seats learners hold on training sessions, followed from records-service's BookingChanged
-- events, for the reminder before each session: a row per live seat, removed when the seat is
-- given up or the reminder is decided. The partial order by remind_at makes the scan read
-- only the rows due.
CREATE TABLE session_reminders (
    tenant_id    TEXT NOT NULL,
    booking_id   TEXT NOT NULL,
    learner      TEXT NOT NULL,
    enrolment_id TEXT NOT NULL,
    pathway_id   TEXT NOT NULL,
    facts        TEXT NOT NULL,
    start_at     TIMESTAMP NOT NULL,
    remind_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, booking_id)
);
CREATE INDEX session_reminders_due ON session_reminders (remind_at);
