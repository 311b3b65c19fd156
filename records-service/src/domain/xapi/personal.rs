//! A person erased from the statements that name them (`lms.privacy.v1`): statements are
//! immutable to clients, but an erasure request outranks that. The person stays recognisable
//! to the store as one Agent (their account now carries the pseudonym the suite chose) so the
//! learning facts keep their shape; their display names go.

use std::cell::RefCell;
use std::collections::BTreeSet;

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
/// changed, the SHA-2 of the signatures dropped, and the identity keys (as the store keeps
/// them, `Agent|mbox|mailto:Ada@Example.com`) of the Agents and Groups it found by an address
/// — in whatever case the statement wrote it.
pub fn erase_person(
    document: &mut Map<String, Value>,
    home_page: &str,
    person: &str,
    pseudonym: &str,
    mailboxes: &Mailboxes,
) -> (bool, Vec<String>, BTreeSet<String>) {
    let names = Names {
        home_page,
        person,
        pseudonym,
        mailboxes,
        found: RefCell::default(),
    };
    let changed = rename(document, &names);
    let found = names.found.into_inner();
    if !changed {
        return (false, Vec::new(), found);
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
    (true, dropped, found)
}

/// The email addresses a person is known by, as an Agent names them: `mbox` (the `mailto:`
/// IRI) and `mbox_sha1sum` (its SHA-1), each as given and in lower case — content writes an
/// address as the learner typed it, and the domain's case means nothing.
#[derive(Debug, Default)]
pub struct Mailboxes {
    mbox: Vec<String>,
    sha1: Vec<String>,
}

impl Mailboxes {
    pub fn of(addresses: &[String]) -> Self {
        let mut mailboxes = Mailboxes::default();
        for address in addresses {
            for form in [address.clone(), address.to_lowercase()] {
                let mbox = format!("mailto:{form}");
                let digest = aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    mbox.as_bytes(),
                );
                let sha1: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                if !mailboxes.mbox.contains(&mbox) {
                    mailboxes.mbox.push(mbox);
                    mailboxes.sha1.push(sha1);
                }
            }
        }
        mailboxes
    }

    /// The store's identity keys of the Agents and identified Groups these name (see
    /// `agent::agent`).
    pub fn agent_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for kind in ["Agent", "Group"] {
            keys.extend(self.mbox.iter().map(|m| format!("{kind}|mbox|{m}")));
            keys.extend(self.sha1.iter().map(|h| format!("{kind}|mbox_sha1sum|{h}")));
        }
        keys
    }

    /// The identity key of `agent` (an Agent or an identified Group) when one of these names
    /// it, as the store keeps it.
    fn name(&self, agent: &Map<String, Value>) -> Option<String> {
        let kind = match agent.get("objectType").and_then(Value::as_str) {
            Some("Group") => "Group",
            _ => "Agent",
        };
        if let Some(mbox) = agent.get("mbox").and_then(Value::as_str)
            && self.mbox.iter().any(|own| own.eq_ignore_ascii_case(mbox))
        {
            return Some(format!("{kind}|mbox|{mbox}"));
        }
        let sha1 = agent.get("mbox_sha1sum").and_then(Value::as_str)?;
        self.sha1
            .iter()
            .any(|own| own.eq_ignore_ascii_case(sha1))
            .then(|| format!("{kind}|mbox_sha1sum|{}", sha1.to_ascii_lowercase()))
    }
}

/// Who is erased, and what they become.
struct Names<'a> {
    home_page: &'a str,
    person: &'a str,
    pseudonym: &'a str,
    mailboxes: &'a Mailboxes,
    /// The keys of what was found by an address.
    found: RefCell<BTreeSet<String>>,
}

fn rename(map: &mut Map<String, Value>, names: &Names<'_>) -> bool {
    let Names {
        home_page,
        person,
        pseudonym,
        mailboxes,
        ..
    } = names;
    let mut changed = false;
    // An Agent (or a Group) named by one of their addresses becomes the pseudonym's account,
    // as one named by their account does: the address was as much theirs. A Group's members
    // are looked at next, as any other values.
    if let Some(key) = mailboxes.name(map) {
        names.found.borrow_mut().insert(key);
        map.remove("mbox");
        map.remove("mbox_sha1sum");
        map.remove("name");
        let account = serde_json::json!({"homePage": home_page, "name": pseudonym});
        map.insert("account".into(), account);
        changed = true;
    }
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
        changed |= rename_in(value, names);
    }
    changed
}

fn rename_in(value: &mut Value, names: &Names<'_>) -> bool {
    match value {
        Value::String(text) if text == names.person => {
            *text = names.pseudonym.to_string();
            true
        }
        Value::Object(map) => rename(map, names),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| rename_in(item, names) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const HOME: &str = "urn:lms:tenant:a";

    /// Erases Ada (known by her account only) from `statement`.
    fn erase_ada(statement: &mut Value) -> (bool, Vec<String>) {
        let statement = statement.as_object_mut().unwrap();
        let (changed, dropped, _) =
            erase_person(statement, HOME, "ada", "erased-1", &Mailboxes::default());
        (changed, dropped)
    }

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
        let (changed, dropped) = erase_ada(&mut statement);
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
    fn an_agent_named_by_one_of_the_persons_addresses_takes_the_pseudonym() {
        let sha1 = "a5a8f2a3b5ff3b0b0d8ab0a24d9a6c4e2bbf4e6f"; // not Ada's: left alone
        let mailboxes = Mailboxes::of(&["Ada@Example.com".to_string()]);
        let ada_sha1 = mailboxes.sha1[1].clone(); // of mailto:ada@example.com
        let mut statement = json!({
            "actor": {"name": "Ada", "mbox": "mailto:ada@example.COM"},
            "object": {"objectType": "Agent", "mbox_sha1sum": ada_sha1.to_uppercase()},
            "context": {"team": {"objectType": "Group", "mbox": "mailto:ada@example.com",
                                 "member": [{"mbox": "mailto:bob@example.com", "name": "Bob"},
                                            {"mbox_sha1sum": sha1}]}},
        });
        let (changed, _, found) = erase_person(
            statement.as_object_mut().unwrap(),
            HOME,
            "ada",
            "erased-1",
            &mailboxes,
        );
        assert!(changed);
        // As the statement wrote them: the store's keys to move.
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            [
                "Agent|mbox_sha1sum|".to_string() + &ada_sha1,
                "Agent|mbox|mailto:ada@example.COM".to_string(),
                "Group|mbox|mailto:ada@example.com".to_string(),
            ]
        );
        let pseudonym = json!({"homePage": HOME, "name": "erased-1"});
        assert_eq!(statement["actor"], json!({"account": pseudonym}));
        assert_eq!(
            statement["object"],
            json!({"objectType": "Agent", "account": pseudonym})
        );
        let team = &statement["context"]["team"];
        assert_eq!(
            team["account"], pseudonym,
            "a Group identified by her address"
        );
        assert!(team.get("mbox").is_none());
        assert_eq!(team["member"][0]["name"], "Bob");
        assert_eq!(team["member"][1]["mbox_sha1sum"], sha1);
        assert_eq!(
            Mailboxes::of(&["Ada@Example.com".to_string()]).agent_keys()[..2],
            [
                "Agent|mbox|mailto:Ada@Example.com",
                "Agent|mbox|mailto:ada@example.com"
            ]
        );
    }

    #[test]
    fn another_home_page_or_person_is_left_alone() {
        let mut statement = json!({
            "actor": {"name": "Ada", "account": {"homePage": "https://other.example", "name": "ada"}},
            "object": {"objectType": "Agent", "account": {"homePage": HOME, "name": "adam"}},
        });
        let before = statement.clone();
        let (changed, _) = erase_ada(&mut statement);
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
        let (changed, dropped) = erase_ada(&mut statement);
        assert!(changed);
        assert_eq!(dropped, ["ABC"]);
        assert!(statement.get("attachments").is_none(), "{statement}");

        let mut other = json!({
            "actor": ada(),
            "attachments": [{"usageType": "http://example.com/photo", "sha2": "def"}],
        });
        let (_, dropped) = erase_ada(&mut other);
        assert!(dropped.is_empty());
        assert_eq!(other["attachments"][0]["sha2"], "def");
    }
}
