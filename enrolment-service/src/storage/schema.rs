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

diesel::allow_tables_to_appear_in_same_query!(people, person_attributes);
