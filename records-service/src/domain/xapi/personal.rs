//! A person erased from the statements that name them (`lms.privacy.v1`): statements are
//! immutable to clients, but an erasure request outranks that. The person stays recognisable
//! to the store as one Agent (their account now carries the pseudonym the suite chose) so the
//! learning facts keep their shape; their display names go.

use serde_json::{Map, Value};

/// xAPI's usage type of a statement's signature attachment.
pub const SIGNATURE: &str = "http://adlnet.gov/expapi/attachments/signature";

/// Rewrites a stored statement so that it no longer names `person` (an account on
/// `home_page`): every Agent object with that account — actor, object, members, instructor,
/// team, authority, in a SubStatement or anywhere else — takes `pseudonym` as its account
/// name and loses its `name`, and any other string that is their id whole (the learner
/// record's `recorded-by` extension, say) becomes the pseudonym, as in the audit trail. A
/// signature attachment is dropped, since it signs the
/// statement as it was, identity included, and matches it no more. Answers whether anything
/// changed, and the SHA-2 of the signatures dropped.
pub fn erase_person(
    document: &mut Map<String, Value>,
    home_page: &str,
    person: &str,
    pseudonym: &str,
) -> (bool, Vec<String>) {
    let changed = rename(document, home_page, person, pseudonym);
    if !changed {
        return (false, Vec::new());
    }
    let mut dropped = Vec::new();
    if let Some(Value::Array(attachments)) = document.get_mut("attachments") {
        attachments.retain(|attachment| {
            let signature = attachment.get("usageType").and_then(Value::as_str) == Some(SIGNATURE);
            if signature && let Some(sha2) = attachment.get("sha2").and_then(Value::as_str) {
                dropped.push(sha2.to_string());
            }
            !signature
        });
    }
    if document
        .get("attachments")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        document.remove("attachments");
    }
    (true, dropped)
}

fn rename(map: &mut Map<String, Value>, home_page: &str, person: &str, pseudonym: &str) -> bool {
    let mut changed = false;
    if let Some(Value::Object(account)) = map.get_mut("account")
        && account.get("homePage").and_then(Value::as_str) == Some(home_page)
        && account.get("name").and_then(Value::as_str) == Some(person)
    {
        account.insert("name".into(), Value::String(pseudonym.to_string()));
        map.remove("name");
        changed = true;
    }
    // Another system's account is its own identity, whatever it is called.
    if map
        .get("homePage")
        .is_some_and(|home| home.as_str() != Some(home_page))
    {
        return changed;
    }
    for value in map.values_mut() {
        changed |= rename_in(value, home_page, person, pseudonym);
    }
    changed
}

fn rename_in(value: &mut Value, home_page: &str, person: &str, pseudonym: &str) -> bool {
    match value {
        Value::String(text) if text == person => {
            *text = pseudonym.to_string();
            true
        }
        Value::Object(map) => rename(map, home_page, person, pseudonym),
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            rename_in(item, home_page, person, pseudonym) | changed
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOME: &str = "urn:lms:tenant:a";

    fn ada() -> Value {
        json!({"objectType": "Agent", "name": "Ada Lovelace", "account": {"homePage": HOME, "name": "ada"}})
    }

    #[test]
    fn every_agent_naming_the_person_takes_the_pseudonym_and_loses_its_name() {
        let mut statement = json!({
            "actor": ada(),
            "verb": {"id": "http://example.com/v"},
            "object": {"objectType": "SubStatement", "actor": ada(), "verb": {"id": "http://example.com/v"},
                       "object": {"id": "http://example.com/a"}},
            "context": {"instructor": ada(), "team": {"objectType": "Group", "member": [ada(),
                        {"mbox": "mailto:bob@example.com", "name": "Bob"}]}},
            "authority": {"objectType": "Agent", "account": {"homePage": HOME, "name": "ada"}},
            "result": {"extensions": {"urn:lms:xapi:recorded-by": "ada", "http://example.com/note": "ada's"}},
        });
        let (changed, dropped) =
            erase_person(statement.as_object_mut().unwrap(), HOME, "ada", "erased-1");
        assert!(changed);
        assert!(dropped.is_empty());
        let text = statement.to_string();
        assert!(!text.contains("Ada") && !text.contains("\"ada\""), "{text}");
        assert_eq!(statement["actor"]["account"]["name"], "erased-1");
        assert_eq!(statement["object"]["actor"]["account"]["name"], "erased-1");
        assert_eq!(
            statement["context"]["team"]["member"][0]["account"]["name"],
            "erased-1"
        );
        assert_eq!(statement["context"]["team"]["member"][1]["name"], "Bob");
        assert_eq!(statement["authority"]["account"]["name"], "erased-1");
        let extensions = &statement["result"]["extensions"];
        assert_eq!(extensions["urn:lms:xapi:recorded-by"], "erased-1");
        assert_eq!(
            extensions["http://example.com/note"], "ada's",
            "only whole strings"
        );
    }

    #[test]
    fn another_home_page_or_person_is_left_alone() {
        let mut statement = json!({
            "actor": {"name": "Ada", "account": {"homePage": "https://other.example", "name": "ada"}},
            "object": {"objectType": "Agent", "account": {"homePage": HOME, "name": "adam"}},
        });
        let before = statement.clone();
        let (changed, _) =
            erase_person(statement.as_object_mut().unwrap(), HOME, "ada", "erased-1");
        assert!(!changed);
        assert_eq!(statement, before);
    }

    #[test]
    fn a_signature_is_dropped_with_the_identity_it_signed() {
        let mut statement = json!({
            "actor": ada(),
            "attachments": [{"usageType": SIGNATURE, "sha2": "ABC", "contentType": "application/octet-stream",
                             "length": 3, "display": {"en": "signature"}}],
        });
        let (changed, dropped) =
            erase_person(statement.as_object_mut().unwrap(), HOME, "ada", "erased-1");
        assert!(changed);
        assert_eq!(dropped, ["ABC"]);
        assert!(statement.get("attachments").is_none(), "{statement}");

        let mut other = json!({
            "actor": ada(),
            "attachments": [{"usageType": "http://example.com/photo", "sha2": "def"}],
        });
        let (_, dropped) = erase_person(other.as_object_mut().unwrap(), HOME, "ada", "erased-1");
        assert!(dropped.is_empty());
        assert_eq!(other["attachments"][0]["sha2"], "def");
    }
}
