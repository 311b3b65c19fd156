//! Table definitions, written by hand to match `migrations/`.

diesel::table! {
    question_banks (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    questions (id) {
        id -> Text,
        tenant_id -> Text,
        bank_id -> Text,
        tags -> Text,
        definition -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    assessments (id) {
        id -> Text,
        tenant_id -> Text,
        pathway_id -> Text,
        definition -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    attempts (id) {
        id -> Text,
        tenant_id -> Text,
        assessment_id -> Text,
        learner -> Text,
        number -> Integer,
        status -> Text,
        started_at -> Timestamp,
        deadline -> Nullable<Timestamp>,
        submitted_at -> Nullable<Timestamp>,
        served -> Text,
        answers -> Text,
        grades -> Text,
        score -> Double,
        max_score -> Double,
        passed -> Bool,
        revision -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(question_banks, questions, assessments, attempts);
