//! The tables (see the migrations for what each column means).

diesel::table! {
    tracked_enrolments (tenant_id, enrolment_id) {
        tenant_id -> Text,
        enrolment_id -> Text,
        person_id -> Text,
        learner -> Text,
        pathway_id -> Text,
        mandatory -> Bool,
        due_at -> Nullable<Timestamp>,
        state -> Text,
        revision -> BigInt,
        next_reminder_at -> Nullable<Timestamp>,
        next_stage -> Integer,
    }
}

diesel::table! {
    notifications (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        dedup_key -> Text,
        kind -> Text,
        learner -> Text,
        for_manager -> Bool,
        recipient -> Text,
        enrolment_id -> Text,
        pathway_id -> Text,
        mandatory -> Bool,
        facts -> Text,
        subject -> Text,
        body -> Text,
        state -> Text,
        email_state -> Text,
        email_to -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_error -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notification_templates (tenant_id, kind, locale) {
        tenant_id -> Text,
        kind -> Text,
        locale -> Text,
        subject -> Text,
        body -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    notification_preferences (tenant_id, person) {
        tenant_id -> Text,
        person -> Text,
        muted -> Text,
        updated_at -> Timestamp,
    }
}
