//! Table definitions, written by hand to match `migrations/`.

diesel::table! {
    enrolments (id) {
        id -> Text,
        tenant_id -> Text,
        learner -> Text,
        pathway_id -> Text,
        pathway_version -> Integer,
        status -> Text,
        requirement -> Text,
        assigned_at -> Timestamp,
        due_at -> Nullable<Timestamp>,
        completed_at -> Nullable<Timestamp>,
        source_revision -> BigInt,
    }
}

diesel::table! {
    pathway_versions (tenant_id, pathway_id, version) {
        tenant_id -> Text,
        pathway_id -> Text,
        version -> Integer,
        snapshot -> Text,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    activities (id) {
        id -> Text,
        tenant_id -> Text,
        enrolment_id -> Text,
        step_id -> Text,
        kind -> Text,
        source -> Text,
        actor -> Text,
        score -> Double,
        max_score -> Double,
        evidence_url -> Text,
        note -> Text,
        recorded_at -> Timestamp,
        attempt_number -> Integer,
        max_attempts -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(enrolments, pathway_versions, activities);

diesel::table! {
    certifications (id) {
        id -> Text,
        tenant_id -> Text,
        learner -> Text,
        pathway_id -> Text,
        pathway_title -> Text,
        pathway_version -> Integer,
        enrolment_id -> Text,
        cycle -> Integer,
        completed_at -> Timestamp,
        issued_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        window_days -> Integer,
        verification_code -> Text,
        revoked_at -> Nullable<Timestamp>,
        revoke_reason -> Text,
        revoked_by -> Text,
        expiring_announced_at -> Nullable<Timestamp>,
        grace_days -> Integer,
        expired_announced_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    manual_records (id) {
        id -> Text,
        tenant_id -> Text,
        learner -> Text,
        title -> Text,
        provider -> Text,
        completed_at -> Timestamp,
        hours -> Double,
        evidence_url -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    manual_record_changes (id) {
        id -> Text,
        tenant_id -> Text,
        record_id -> Text,
        action -> Text,
        actor -> Text,
        changed_at -> Timestamp,
        reason -> Text,
        snapshot -> Text,
    }
}

diesel::table! {
    evidence (id) {
        id -> Text,
        tenant_id -> Text,
        enrolment_id -> Text,
        step_id -> Text,
        step_title -> Text,
        learner -> Text,
        pathway_id -> Text,
        description -> Text,
        url -> Text,
        file_reference -> Text,
        status -> Text,
        submitted_at -> Timestamp,
        decided_by -> Text,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Text,
    }
}

diesel::table! {
    training_sessions (id) {
        id -> Text,
        tenant_id -> Text,
        pathway_id -> Text,
        step_id -> Text,
        pathway_title -> Text,
        step_title -> Text,
        start_at -> Timestamp,
        end_at -> Timestamp,
        time_zone -> Text,
        location -> Text,
        meeting_url -> Text,
        capacity -> Integer,
        booking_deadline -> Timestamp,
        cancellation_deadline -> Timestamp,
        state -> Text,
        cancel_reason -> Text,
        booked_count -> Integer,
        waitlist_count -> Integer,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    session_instructors (tenant_id, session_id, instructor) {
        tenant_id -> Text,
        session_id -> Text,
        instructor -> Text,
    }
}

diesel::table! {
    session_bookings (id) {
        id -> Text,
        tenant_id -> Text,
        session_id -> Text,
        step_id -> Text,
        enrolment_id -> Text,
        learner -> Text,
        state -> Text,
        booked_by -> Text,
        booked_at -> Timestamp,
        override_reason -> Text,
        cancelled_at -> Nullable<Timestamp>,
        cancel_reason -> Text,
        attendance -> Text,
    }
}

diesel::table! {
    attendance_marks (id) {
        id -> Text,
        tenant_id -> Text,
        session_id -> Text,
        booking_id -> Text,
        learner -> Text,
        status -> Text,
        reason -> Text,
        marked_by -> Text,
        marked_at -> Timestamp,
        corrects -> Text,
    }
}

diesel::joinable!(session_instructors -> training_sessions (session_id));
diesel::joinable!(session_bookings -> training_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    training_sessions,
    session_instructors,
    session_bookings
);

diesel::table! {
    calendar_feeds (tenant_id, subject) {
        tenant_id -> Text,
        subject -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    xapi_statements (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        stored -> Timestamp,
        target_statement -> Text,
        voids -> Text,
        voided -> Bool,
        fingerprint -> Text,
        document -> Text,
    }
}

diesel::table! {
    xapi_statement_keys (tenant_id, kind, key, related, stored, statement_id) {
        tenant_id -> Text,
        kind -> Text,
        key -> Text,
        related -> Bool,
        stored -> Timestamp,
        statement_id -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(xapi_statements, xapi_statement_keys);

diesel::table! {
    xapi_clients (key) {
        key -> Text,
        tenant_id -> Text,
        name -> Text,
        secret_hash -> Text,
        can_read -> Bool,
        can_write -> Bool,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    xapi_documents (tenant_id, kind, activity_id, agent, registration, document_id) {
        tenant_id -> Text,
        kind -> Text,
        activity_id -> Text,
        agent -> Text,
        registration -> Text,
        document_id -> Text,
        content_type -> Text,
        content -> Binary,
        etag -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    xapi_activities (tenant_id, activity_id) {
        tenant_id -> Text,
        activity_id -> Text,
        definition -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    xapi_verbs (tenant_id, verb_id) {
        tenant_id -> Text,
        verb_id -> Text,
        display -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    xapi_attachments (tenant_id, sha2) {
        tenant_id -> Text,
        sha2 -> Text,
        content_type -> Text,
        stored_at -> Timestamp,
        size -> BigInt,
    }
}

diesel::table! {
    xapi_backfill (tenant_id, source) {
        tenant_id -> Text,
        source -> Text,
        last_id -> Text,
        done -> Bool,
    }
}

diesel::table! {
    xapi_attachment_chunks (tenant_id, sha2, seq) {
        tenant_id -> Text,
        sha2 -> Text,
        seq -> Integer,
        data -> Binary,
    }
}

diesel::table! {
    cmi5_sessions (id) {
        id -> Text,
        tenant_id -> Text,
        enrolment_id -> Text,
        step_id -> Text,
        fetch_hash -> Text,
        auth_hash -> Nullable<Text>,
        verbs -> Text,
        launched_at -> Timestamp,
        last_statement_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        initialized_timestamp -> Nullable<Timestamp>,
        latest_timestamp -> Nullable<Timestamp>,
        terminated_timestamp -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cmi5_units (tenant_id, enrolment_id, step_id) {
        tenant_id -> Text,
        enrolment_id -> Text,
        step_id -> Text,
        completed -> Bool,
        passed -> Bool,
        satisfied_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    xapi_forwarding (tenant_id) {
        tenant_id -> Text,
        endpoint -> Text,
        username -> Text,
        password -> Text,
        enabled -> Bool,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}
