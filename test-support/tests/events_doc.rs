//! docs/events.md is the event catalogue: every message a service writes to its outbox has a
//! heading there (`### lms.enrolment.v1.EnrolmentCreated`) whose "Fields:" line names every
//! field of the message. Read from the services' `events.rs`, so a new event or field cannot
//! ship undocumented.

use std::collections::HashMap;
use std::path::Path;

const SERVICES: [&str; 4] = [
    "pathway-service",
    "enrolment-service",
    "assessment-service",
    "records-service",
];

/// `(package alias → package)` from `use lms_proto::enrolment_v1 as pb;` lines.
fn aliases(source: &str) -> HashMap<String, String> {
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("use lms_proto::")?;
            let (module, alias) = rest.trim_end_matches(';').split_once(" as ")?;
            let package = format!("lms.{}", module.replace("_v1", ".v1"));
            Some((alias.trim().to_string(), package))
        })
        .collect()
}

/// The full names of the messages `source` passes to `NewEvent::new`.
fn emitted(source: &str) -> Vec<String> {
    let aliases = aliases(source);
    let mut names = Vec::new();
    for (at, _) in source.match_indices("NewEvent::new(") {
        let after = &source[at..];
        let Some(start) = after.find('&') else {
            continue;
        };
        let path: String = after[start + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if let Some((alias, message)) = path.split_once("::")
            && let Some(package) = aliases.get(alias)
        {
            names.push(format!("{package}.{message}"));
        }
    }
    names
}

#[test]
fn every_emitted_event_and_field_is_in_the_catalogue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let doc = std::fs::read_to_string(root.join("docs/events.md")).unwrap();
    let pool = prost_reflect::DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut found = 0;
    for service in SERVICES {
        let path = root.join(service).join("src/events.rs");
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        for name in emitted(&source) {
            found += 1;
            let heading = format!("### {name}\n");
            let at = doc
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/events.md has no `{}`", heading.trim()));
            let section = &doc[at + heading.len()..];
            let section = &section[..section.find("\n#").unwrap_or(section.len())];
            let message = pool
                .get_message_by_name(&name)
                .unwrap_or_else(|| panic!("{name} is not in the contracts"));
            for field in message.fields() {
                assert!(
                    section.contains(&format!("`{}`", field.name())),
                    "docs/events.md, {name}: field `{}` is not listed",
                    field.name()
                );
            }
        }
    }
    assert!(
        found >= 7,
        "only {found} emitted events found: is the reader out of date?"
    );
}

/// Webhooks may subscribe to exactly the events the services emit: a new event is offered to
/// them as soon as it exists, and nothing is offered that is never sent.
#[test]
fn webhooks_offer_exactly_the_emitted_events() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut emitted_names: Vec<String> = SERVICES
        .iter()
        .filter_map(|service| {
            std::fs::read_to_string(root.join(service).join("src/events.rs")).ok()
        })
        .flat_map(|source| emitted(&source))
        .collect();
    emitted_names.sort();
    emitted_names.dedup();
    let mut published = notification_service::events::published();
    published.sort();
    assert_eq!(published, emitted_names);
}
