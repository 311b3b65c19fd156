//! Table definitions, written by hand to match `migrations/` (portable types only).

diesel::table! {
    categories (id) {
        id -> Text,
        tenant_id -> Text,
        parent_id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Text,
        sort_order -> Integer,
        depth -> Integer,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    pathways (id) {
        id -> Text,
        tenant_id -> Text,
        title -> Text,
        description -> Text,
        category_id -> Text,
        outcome -> Text,
        sequencing -> Text,
        completion_rule -> Text,
        completion_min_steps -> Integer,
        estimated_duration_minutes -> Integer,
        tags -> Text,
        validity_days -> Integer,
        recertification_window_days -> Integer,
        has_certification -> Bool,
        status -> Text,
        latest_version -> Integer,
        has_unpublished_changes -> Bool,
        revision -> BigInt,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
        expiry_month -> Integer,
        expiry_day -> Integer,
        grace_days -> Integer,
    }
}

diesel::table! {
    steps (id) {
        id -> Text,
        tenant_id -> Text,
        pathway_id -> Text,
        position -> Integer,
        title -> Text,
        description -> Text,
        required -> Bool,
        prerequisites -> Text,
        estimated_minutes -> Integer,
        kind -> Text,
        detail -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        updated_at -> Timestamp,
        updated_by -> Text,
    }
}

diesel::table! {
    pathway_versions (pathway_id, version) {
        tenant_id -> Text,
        pathway_id -> Text,
        version -> Integer,
        title -> Text,
        description -> Text,
        category_id -> Text,
        outcome -> Text,
        snapshot -> Text,
        published_at -> Timestamp,
        published_by -> Text,
    }
}

diesel::table! {
    content_packages (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        access_key -> Text,
        pathway_id -> Text,
        file_count -> Integer,
        total_bytes -> BigInt,
        imported_at -> Timestamp,
        imported_by -> Text,
    }
}

diesel::table! {
    content_package_files (access_key, path) {
        access_key -> Text,
        path -> Text,
        tenant_id -> Text,
        content_type -> Text,
        size -> BigInt,
    }
}

diesel::table! {
    content_package_chunks (access_key, path, seq) {
        access_key -> Text,
        path -> Text,
        seq -> Integer,
        tenant_id -> Text,
        data -> Binary,
    }
}

diesel::allow_tables_to_appear_in_same_query!(categories, pathways, steps, pathway_versions);
