//! Table definitions, written by hand to match `migrations/` (portable types only).

diesel::table! {
    people (id) {
        id -> Text,
        tenant_id -> Text,
        external_id -> Text,
        email -> Text,
        display_name -> Text,
        status -> Text,
        department -> Text,
        job_title -> Text,
        location -> Text,
        manager_external_id -> Text,
        hire_date -> Nullable<Date>,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    person_attributes (person_id, key) {
        tenant_id -> Text,
        person_id -> Text,
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    audiences (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Text,
        kind -> Text,
        rule -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    audience_members (audience_id, person_id) {
        tenant_id -> Text,
        audience_id -> Text,
        person_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    audiences,
    audience_members,
    people,
    person_attributes
);

diesel::table! {
    classes (id) {
        id -> Text,
        tenant_id -> Text,
        code -> Text,
        code_key -> Text,
        name -> Text,
        term -> Text,
        start_date -> Date,
        end_date -> Date,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    class_members (class_id, person_id) {
        tenant_id -> Text,
        class_id -> Text,
        person_id -> Text,
        role -> Text,
        added_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(classes, class_members, people);

diesel::table! {
    assignments (id) {
        id -> Text,
        tenant_id -> Text,
        pathway_id -> Text,
        audience_id -> Text,
        class_id -> Text,
        requirement -> Text,
        due_kind -> Text,
        due_fixed_at -> Nullable<Timestamp>,
        due_days -> Integer,
        leave_policy -> Text,
        pathway_version -> Integer,
        removed_at -> Nullable<Timestamp>,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    enrolments (id) {
        id -> Text,
        tenant_id -> Text,
        person_id -> Text,
        learner -> Text,
        pathway_id -> Text,
        pathway_version -> Integer,
        source -> Text,
        assignment_id -> Text,
        requirement -> Text,
        status -> Text,
        assigned_at -> Timestamp,
        due_at -> Nullable<Timestamp>,
        started_at -> Nullable<Timestamp>,
        withdrawn_at -> Nullable<Timestamp>,
        withdrawal -> Text,
        withdraw_reason -> Text,
        lapsed_at -> Nullable<Timestamp>,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    enrolment_due_changes (id) {
        id -> Text,
        tenant_id -> Text,
        enrolment_id -> Text,
        previous_due_at -> Nullable<Timestamp>,
        due_at -> Timestamp,
        reason -> Text,
        actor -> Text,
        changed_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(assignments, enrolments, people);

diesel::table! {
    role_bindings (id) {
        id -> Text,
        tenant_id -> Text,
        principal -> Text,
        role -> Text,
        scope_kind -> Text,
        scope_id -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}
