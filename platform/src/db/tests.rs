use super::*;

#[test]
fn picks_the_backend_from_the_scheme() {
    assert_eq!(
        DatabaseUrl::parse("postgres://u@h/db").unwrap().backend,
        Backend::Postgres
    );
    assert_eq!(
        DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap().backend,
        Backend::Sqlite
    );
    assert!(DatabaseUrl::parse("mysql://x").is_err());
}

#[test]
fn error_messages_never_show_passwords() {
    let err = DatabaseUrl::parse("mongodb://user:hunter2@host/db").unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn advisory_keys_are_stable_and_distinct() {
    assert_eq!(advisory_lock_key("pathway"), advisory_lock_key("pathway"));
    assert_ne!(advisory_lock_key("pathway"), advisory_lock_key("records"));
    assert!(advisory_lock_key("pathway") >= 0);
}
