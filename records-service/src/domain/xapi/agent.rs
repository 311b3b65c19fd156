//! Agents and Groups (xAPI Data 2.4.2): who did it, who taught, who vouches.
//!
//! An Agent names exactly one inverse functional identifier (IFI): `mbox`, `mbox_sha1sum`,
//! `openid` or `account`. A Group is identified (one IFI) or anonymous (no IFI, then it
//! must list its members); members are Agents.

use serde_json::{Map, Value};

use super::check::{Check, join};
use super::formats;

const IFIS: [&str; 4] = ["mbox", "mbox_sha1sum", "openid", "account"];
const AGENT_PROPERTIES: [&str; 6] = [
    "objectType",
    "name",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
];
const GROUP_PROPERTIES: [&str; 7] = [
    "objectType",
    "name",
    "member",
    "mbox",
    "mbox_sha1sum",
    "openid",
    "account",
];

/// Who an Agent or Group is, for matching a query's `agent`: its objectType and IFI
/// (`Agent|mbox|mailto:a@example.com`), and an anonymous or identified group's members'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identities {
    /// The agent's or identified group's own key; None for an anonymous group.
    pub own: Option<String>,
    pub members: Vec<String>,
}

impl Identities {
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.own.iter().chain(&self.members)
    }
}

/// Checks an Agent or a Group (by its `objectType`; an Agent when absent).
pub fn agent_or_group(check: &mut Check, value: &Value, path: &str) -> Option<Identities> {
    match value.get("objectType").and_then(Value::as_str) {
        Some("Group") => group(check, value, path),
        _ => agent(check, value, path).map(|own| Identities {
            own: Some(own),
            members: Vec::new(),
        }),
    }
}

/// Checks an Agent; its identity key.
pub fn agent(check: &mut Check, value: &Value, path: &str) -> Option<String> {
    let map = check.object(value, path, &AGENT_PROPERTIES)?;
    check.object_type(map, path, &["Agent"]);
    name(check, map, path);
    let key = identifier(check, map, path, "Agent");
    match key {
        Some(Some(key)) => Some(key),
        Some(None) => {
            check.fail(
                path,
                "an Agent must have exactly one of mbox, mbox_sha1sum, openid or account",
            );
            None
        }
        None => None,
    }
}

/// Checks a Group (`objectType` "Group" required).
pub fn group(check: &mut Check, value: &Value, path: &str) -> Option<Identities> {
    let map = check.object(value, path, &GROUP_PROPERTIES)?;
    if map.get("objectType").and_then(Value::as_str) != Some("Group") {
        check.fail(
            &join(path, "objectType"),
            "a Group must say objectType \"Group\"",
        );
    }
    name(check, map, path);
    let own = identifier(check, map, path, "Group")?;
    let mut members = Vec::new();
    match map.get("member") {
        Some(list) => {
            let at = join(path, "member");
            for (index, member) in check.array(list, &at).into_iter().flatten().enumerate() {
                let member_path = format!("{at}[{index}]");
                if member.get("objectType").and_then(Value::as_str) == Some("Group") {
                    check.fail(&member_path, "a Group's members must be Agents");
                } else if let Some(key) = agent(check, member, &member_path) {
                    members.push(key);
                }
            }
            if own.is_none() && members.is_empty() && list.as_array().is_some_and(Vec::is_empty) {
                check.fail(&at, "an anonymous Group must list at least one member");
            }
        }
        None if own.is_none() => check.fail(
            &join(path, "member"),
            "an anonymous Group (one without an identifier) must list its members",
        ),
        None => {}
    }
    Some(Identities { own, members })
}

fn name(check: &mut Check, map: &Map<String, Value>, path: &str) {
    if let Some(value) = map.get("name") {
        check.string(value, &join(path, "name"));
    }
}

/// The one IFI's key: Some(None) when there is none, None when it is malformed or when more
/// than one is given.
fn identifier(
    check: &mut Check,
    map: &Map<String, Value>,
    path: &str,
    kind: &str,
) -> Option<Option<String>> {
    let given: Vec<&str> = IFIS
        .into_iter()
        .filter(|ifi| map.contains_key(*ifi))
        .collect();
    if given.len() > 1 {
        check.fail(
            path,
            format!(
                "an {kind} may have only one identifier, not {}",
                given.join(" and ")
            ),
        );
        return None;
    }
    let Some(ifi) = given.first().copied() else {
        return Some(None);
    };
    let at = join(path, ifi);
    let value = &map[ifi];
    let text = match ifi {
        "mbox" => {
            let text = check.string(value, &at)?;
            if !formats::is_mailbox(text) {
                check.fail(&at, "must be mailto: and an email address");
                return None;
            }
            text.to_string()
        }
        "mbox_sha1sum" => {
            let text = check.string(value, &at)?;
            if !formats::is_hex(text, 40) {
                check.fail(&at, "must be the SHA-1 of a mailto: IRI, in 40 hex digits");
                return None;
            }
            text.to_ascii_lowercase()
        }
        "openid" => check.iri(value, &at)?.to_string(),
        _ => account(check, value, &at)?,
    };
    Some(Some(format!("{kind}|{ifi}|{text}")))
}

fn account(check: &mut Check, value: &Value, path: &str) -> Option<String> {
    let map = check.object(value, path, &["homePage", "name"])?;
    let home = check.required(map, path, "homePage");
    let name = check.required(map, path, "name");
    let home = home.and_then(|home| check.iri(home, &join(path, "homePage")));
    let name = name.and_then(|name| check.string(name, &join(path, "name")));
    // JSON keeps the two parts apart whatever characters they hold.
    Some(serde_json::to_string(&[home?, name?]).unwrap_or_default())
}

/// The identity key of an Agent identified by an account on `home_page` (the suite's people
/// are such Agents: `urn:lms:tenant:<tenant>` and their external id).
pub fn account_key(home_page: &str, name: &str) -> String {
    let text = serde_json::to_string(&[home_page, name]).unwrap_or_default();
    format!("Agent|account|{text}")
}

/// The identity key of the `agent` a query names (an Agent or identified Group, as JSON).
pub fn query_identity(value: &Value) -> Result<String, String> {
    let mut check = Check::new(super::Version::V2);
    let identities = agent_or_group(&mut check, value, "agent");
    match identities {
        Some(Identities { own: Some(key), .. }) if check.is_clean() => Ok(key),
        Some(_) if check.is_clean() => {
            Err("agent must have an identifier (an anonymous Group cannot be queried)".into())
        }
        _ => Err(check
            .into_violations()
            .into_iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ")),
    }
}
