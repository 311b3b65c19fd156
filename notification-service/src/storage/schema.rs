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
        digest -> Bool,
        last_digest_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhooks (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        url -> Text,
        event_types -> Text,
        description -> Text,
        state -> Text,
        disabled_reason -> Text,
        secret -> Text,
        previous_secret -> Text,
        previous_secret_until -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        revision -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        webhook_id -> Text,
        event_id -> Text,
        event_type -> Text,
        aggregate_id -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_status -> Integer,
        last_latency_ms -> Integer,
        last_error -> Text,
        last_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);
diesel::allow_tables_to_appear_in_same_query!(notifications, notification_preferences);

diesel::table! {
    session_reminders (tenant_id, booking_id) {
        tenant_id -> Text,
        booking_id -> Text,
        learner -> Text,
        enrolment_id -> Text,
        pathway_id -> Text,
        facts -> Text,
        start_at -> Timestamp,
        remind_at -> Timestamp,
    }
}
