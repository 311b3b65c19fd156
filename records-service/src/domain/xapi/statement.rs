//! A Statement (xAPI Data 2.4), its SubStatement, result, context and attachment metadata,
//! checked property by property; what queries filter on is read off it at the same time.

use serde_json::{Map, Value};

use super::activity;
use super::agent::{self, Identities};
use super::attachments::{AttachmentMeta, SIGNATURE};
use super::check::{Check, join};
use super::{Version, formats};

/// The verb that voids the statement its StatementRef object names.
pub const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

const STATEMENT_PROPERTIES: [&str; 11] = [
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
];
const SUB_STATEMENT_PROPERTIES: [&str; 8] = [
    "objectType",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "attachments",
];
const CONTEXT_PROPERTIES: [&str; 11] = [
    "registration",
    "instructor",
    "team",
    "contextActivities",
    "contextAgents",
    "contextGroups",
    "revision",
    "platform",
    "language",
    "statement",
    "extensions",
];
const ATTACHMENT_PROPERTIES: [&str; 7] = [
    "usageType",
    "display",
    "description",
    "contentType",
    "length",
    "sha2",
    "fileUrl",
];

/// What a statement's object is.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Activity(String),
    Agent(Identities),
    /// A StatementRef: the id of the statement it targets.
    Statement(String),
    SubStatement,
}

/// What a query's filters match a statement by (the statement itself; statements it targets
/// by StatementRef are the store's to add).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterKeys {
    pub verb: String,
    pub registration: Option<String>,
    /// Agent identity keys: `(key, related)`, related meaning matched only with `related_agents`.
    pub agents: Vec<(String, bool)>,
    /// Activity ids: `(id, related)`, related meaning matched only with `related_activities`.
    pub activities: Vec<(String, bool)>,
}

/// A statement that meets the specification.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Its id, lowercased; None when the client gave none.
    pub id: Option<String>,
    pub target: Target,
    pub keys: FilterKeys,
    /// What it says of its attachments, in order.
    pub attachments: Vec<AttachmentMeta>,
}

impl Checked {
    /// The statement this one voids, if it is a voiding statement.
    pub fn voids(&self) -> Option<&str> {
        match &self.target {
            Target::Statement(id) if self.keys.verb == VOIDED => Some(id),
            _ => None,
        }
    }
}

/// Checks one statement; on failure, every violation found.
pub fn check_statement(value: &Value, path: &str, check: &mut Check) -> Option<Checked> {
    let map = check.object(value, path, &STATEMENT_PROPERTIES)?;
    let id = map
        .get("id")
        .and_then(|id| check.uuid(id, &join(path, "id")));
    let mut keys = FilterKeys::default();
    let body = body(check, map, path, false, &mut keys);
    for key in ["timestamp", "stored"] {
        if let Some(value) = map.get(key) {
            check.timestamp(value, &join(path, key));
        }
    }
    if let Some(authority) = map.get("authority") {
        let at = join(path, "authority");
        if let Some(who) = agent::agent_or_group(check, authority, &at) {
            // A Group stands for OAuth's application and user: exactly two Agents.
            if who.own.is_none() && who.members.len() != 2 {
                check.fail(&at, "a Group as authority must have exactly two members");
            }
            keys.agents.extend(who.all().map(|k| (k.clone(), true)));
        }
    }
    if let Some(version) = map.get("version") {
        let at = join(path, "version");
        if let Some(text) = check.string(version, &at)
            && !is_supported_version(text, check.version)
        {
            let expected = match check.version {
                Version::V1 => "a 1.0.x version (the request is xAPI 1.0.3)",
                Version::V2 => "a 1.0.x or 2.0.x version",
            };
            check.fail(&at, format!("must be {expected}"));
        }
    }
    let (target, attachments) = body?;
    if keys.verb == VOIDED && !matches!(target, Target::Statement(_)) {
        check.fail(
            &join(path, "object"),
            "a voiding statement's object must be a StatementRef",
        );
    }
    if !check.is_clean() {
        return None;
    }
    Some(Checked {
        id,
        target,
        keys,
        attachments,
    })
}

/// A statement's `version` property under a request of `version`: `1.0`, `1.0.x`, and under
/// 2.0.0 also `2.0`, `2.0.x`.
pub fn is_supported_version(text: &str, version: Version) -> bool {
    match Version::parse(text) {
        Some(Version::V1) => true,
        Some(Version::V2) => version == Version::V2,
        None => false,
    }
}

/// What a Statement and a SubStatement share: actor, verb, object, result, context,
/// attachments. Returns the object and what it says of its attachments.
fn body(
    check: &mut Check,
    map: &Map<String, Value>,
    path: &str,
    nested: bool,
    keys: &mut FilterKeys,
) -> Option<(Target, Vec<AttachmentMeta>)> {
    // A SubStatement's agents and activities match only the related_* filters.
    let related = nested;
    let actor = check.required(map, path, "actor");
    let verb = check.required(map, path, "verb");
    let object = check.required(map, path, "object");
    if let Some(actor) = actor
        && let Some(who) = agent::agent_or_group(check, actor, &join(path, "actor"))
    {
        keys.agents.extend(who.all().map(|k| (k.clone(), related)));
    }
    if let Some(verb) = verb
        && let Some(id) = self::verb(check, verb, &join(path, "verb"))
        && !nested
    {
        keys.verb = id;
    }
    let target =
        object.and_then(|object| self::object(check, object, &join(path, "object"), nested, keys));
    if let Some(result) = map.get("result") {
        self::result(check, result, &join(path, "result"));
    }
    let about_activity = matches!(target, Some(Target::Activity(_)));
    if let Some(context) = map.get("context") {
        self::context(
            check,
            context,
            &join(path, "context"),
            about_activity,
            nested,
            keys,
        );
    }
    if let Some(timestamp) = map.get("timestamp") {
        check.timestamp(timestamp, &join(path, "timestamp"));
    }
    let hashes = match map.get("attachments") {
        Some(list) => attachments(check, list, &join(path, "attachments")),
        None => Vec::new(),
    };
    Some((target?, hashes))
}

fn verb(check: &mut Check, value: &Value, path: &str) -> Option<String> {
    let map = check.object(value, path, &["id", "display"])?;
    if let Some(display) = map.get("display") {
        check.language_map(display, &join(path, "display"));
    }
    let id = check.required(map, path, "id")?;
    check.iri(id, &join(path, "id")).map(str::to_string)
}

fn object(
    check: &mut Check,
    value: &Value,
    path: &str,
    nested: bool,
    keys: &mut FilterKeys,
) -> Option<Target> {
    let Some(map) = value.as_object() else {
        check.fail(path, "must be a JSON object");
        return None;
    };
    let kind = map
        .get("objectType")
        .and_then(Value::as_str)
        .unwrap_or("Activity");
    match kind {
        "Activity" => {
            let id = activity::activity(check, value, path)?;
            keys.activities.push((id.clone(), nested));
            Some(Target::Activity(id))
        }
        "Agent" | "Group" => {
            let who = agent::agent_or_group(check, value, path)?;
            keys.agents.extend(who.all().map(|k| (k.clone(), nested)));
            Some(Target::Agent(who))
        }
        "StatementRef" => statement_ref(check, value, path).map(Target::Statement),
        "SubStatement" if nested => {
            check.fail(
                path,
                "a SubStatement's object cannot be another SubStatement",
            );
            None
        }
        "SubStatement" => {
            let map = check.object(value, path, &SUB_STATEMENT_PROPERTIES)?;
            body(check, map, path, true, keys)?;
            Some(Target::SubStatement)
        }
        _ => {
            check.fail(
                &join(path, "objectType"),
                "must be Activity, Agent, Group, StatementRef or SubStatement",
            );
            None
        }
    }
}

fn statement_ref(check: &mut Check, value: &Value, path: &str) -> Option<String> {
    let map = check.object(value, path, &["objectType", "id"])?;
    if map.get("objectType").and_then(Value::as_str) != Some("StatementRef") {
        check.fail(&join(path, "objectType"), "must be \"StatementRef\"");
    }
    let id = check.required(map, path, "id")?;
    check.uuid(id, &join(path, "id"))
}

fn result(check: &mut Check, value: &Value, path: &str) {
    let allowed = [
        "score",
        "success",
        "completion",
        "response",
        "duration",
        "extensions",
    ];
    let Some(map) = check.object(value, path, &allowed) else {
        return;
    };
    for key in ["success", "completion"] {
        if let Some(flag) = map.get(key) {
            check.boolean(flag, &join(path, key));
        }
    }
    if let Some(response) = map.get("response") {
        check.string(response, &join(path, "response"));
    }
    if let Some(duration) = map.get("duration") {
        let at = join(path, "duration");
        if let Some(text) = check.string(duration, &at)
            && !formats::is_duration(text)
        {
            check.fail(&at, "must be an ISO 8601 duration (PT1H30M)");
        }
    }
    if let Some(extensions) = map.get("extensions") {
        check.extensions(extensions, &join(path, "extensions"));
    }
    if let Some(score) = map.get("score") {
        self::score(check, score, &join(path, "score"));
    }
}

fn score(check: &mut Check, value: &Value, path: &str) {
    let Some(map) = check.object(value, path, &["scaled", "raw", "min", "max"]) else {
        return;
    };
    let number =
        |check: &mut Check, key: &str| map.get(key).and_then(|v| check.number(v, &join(path, key)));
    let (scaled, raw) = (number(check, "scaled"), number(check, "raw"));
    let (min, max) = (number(check, "min"), number(check, "max"));
    if scaled.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
        check.fail(&join(path, "scaled"), "must be between -1 and 1");
    }
    if let (Some(min), Some(max)) = (min, max)
        && min >= max
    {
        check.fail(&join(path, "max"), "must be greater than min");
    }
    if let Some(raw) = raw {
        if min.is_some_and(|min| raw < min) {
            check.fail(&join(path, "raw"), "must not be below min");
        }
        if max.is_some_and(|max| raw > max) {
            check.fail(&join(path, "raw"), "must not be above max");
        }
    }
}

fn context(
    check: &mut Check,
    value: &Value,
    path: &str,
    about_activity: bool,
    nested: bool,
    keys: &mut FilterKeys,
) {
    // contextAgents and contextGroups are xAPI 2.0.0's: unknown properties under 1.0.3.
    let allowed: &[&str] = match check.version {
        Version::V1 => &CONTEXT_PROPERTIES[..4],
        Version::V2 => &CONTEXT_PROPERTIES[..6],
    };
    let allowed: Vec<&str> = allowed
        .iter()
        .chain(&CONTEXT_PROPERTIES[6..])
        .copied()
        .collect();
    let Some(map) = check.object(value, path, &allowed) else {
        return;
    };
    if let Some(registration) = map.get("registration")
        && let Some(id) = check.uuid(registration, &join(path, "registration"))
        && !nested
    {
        keys.registration = Some(id);
    }
    if let Some(instructor) = map.get("instructor")
        && let Some(who) = agent::agent_or_group(check, instructor, &join(path, "instructor"))
    {
        keys.agents.extend(who.all().map(|k| (k.clone(), true)));
    }
    if let Some(team) = map.get("team")
        && let Some(who) = agent::group(check, team, &join(path, "team"))
    {
        keys.agents.extend(who.all().map(|k| (k.clone(), true)));
    }
    if let Some(activities) = map.get("contextActivities") {
        let at = join(path, "contextActivities");
        if let Some(lists) = check.object(
            activities,
            &at,
            &["parent", "grouping", "category", "other"],
        ) {
            for (kind, list) in lists {
                let ids = activity::one_or_many(check, list, &join(&at, kind));
                keys.activities.extend(ids.into_iter().map(|id| (id, true)));
            }
        }
    }
    for (key, kind, inner) in [
        ("contextAgents", "contextAgent", "agent"),
        ("contextGroups", "contextGroup", "group"),
    ] {
        if let Some(list) = map.get(key) {
            context_agents(check, list, &join(path, key), kind, inner, keys);
        }
    }
    for key in ["revision", "platform"] {
        if let Some(text) = map.get(key) {
            let at = join(path, key);
            check.string(text, &at);
            if !about_activity {
                check.fail(
                    &at,
                    "may be given only when the statement's object is an Activity",
                );
            }
        }
    }
    if let Some(language) = map.get("language") {
        let at = join(path, "language");
        if let Some(tag) = check.string(language, &at)
            && !formats::is_language_tag(tag)
        {
            check.fail(&at, "must be an RFC 5646 language tag");
        }
    }
    if let Some(statement) = map.get("statement") {
        statement_ref(check, statement, &join(path, "statement"));
    }
    if let Some(extensions) = map.get("extensions") {
        check.extensions(extensions, &join(path, "extensions"));
    }
}

/// xAPI 2.0.0's `contextAgents` / `contextGroups`: who else took part, and how.
fn context_agents(
    check: &mut Check,
    value: &Value,
    path: &str,
    kind: &str,
    inner: &str,
    keys: &mut FilterKeys,
) {
    for (index, item) in check.array(value, path).into_iter().flatten().enumerate() {
        let at = format!("{path}[{index}]");
        let Some(map) = check.object(item, &at, &["objectType", inner, "relevantTypes"]) else {
            continue;
        };
        if map.get("objectType").and_then(Value::as_str) != Some(kind) {
            check.fail(&join(&at, "objectType"), format!("must be \"{kind}\""));
        }
        if let Some(who) = check.required(map, &at, inner) {
            let who_path = join(&at, inner);
            let who = if inner == "group" {
                agent::group(check, who, &who_path)
            } else {
                agent::agent(check, who, &who_path).map(|own| Identities {
                    own: Some(own),
                    members: Vec::new(),
                })
            };
            if let Some(who) = who {
                keys.agents.extend(who.all().map(|k| (k.clone(), true)));
            }
        }
        if let Some(types) = map.get("relevantTypes") {
            let types_path = join(&at, "relevantTypes");
            match check.array(types, &types_path) {
                Some(list) if list.is_empty() => check.fail(&types_path, "must not be empty"),
                Some(list) => {
                    for (n, iri) in list.iter().enumerate() {
                        check.iri(iri, &format!("{types_path}[{n}]"));
                    }
                }
                None => {}
            }
        }
    }
}

fn attachments(check: &mut Check, value: &Value, path: &str) -> Vec<AttachmentMeta> {
    let mut found = Vec::new();
    for (index, item) in check.array(value, path).into_iter().flatten().enumerate() {
        let at = format!("{path}[{index}]");
        let Some(map) = check.object(item, &at, &ATTACHMENT_PROPERTIES) else {
            continue;
        };
        let required: Vec<Option<&Value>> =
            ["usageType", "display", "contentType", "length", "sha2"]
                .into_iter()
                .map(|key| check.required(map, &at, key))
                .collect();
        if let Some(usage) = required[0] {
            check.iri(usage, &join(&at, "usageType"));
        }
        if let Some(display) = required[1] {
            check.language_map(display, &join(&at, "display"));
        }
        if let Some(description) = map.get("description") {
            check.language_map(description, &join(&at, "description"));
        }
        if let Some(content_type) = required[2] {
            let type_path = join(&at, "contentType");
            if let Some(text) = check.string(content_type, &type_path)
                && !formats::is_media_type(text)
            {
                check.fail(&type_path, "must be an Internet media type (type/subtype)");
            }
        }
        if let Some(length) = required[3]
            && length.as_u64().is_none()
        {
            check.fail(&join(&at, "length"), "must be a whole number of octets");
        }
        if let Some(url) = map.get("fileUrl") {
            check.iri(url, &join(&at, "fileUrl"));
        }
        if let Some(sha2) = required[4] {
            let sha_path = join(&at, "sha2");
            match check.string(sha2, &sha_path) {
                Some(text) if formats::is_sha2(text) => found.push(AttachmentMeta {
                    sha2: text.to_ascii_lowercase(),
                    has_file_url: map.contains_key("fileUrl"),
                    is_signature: map.get("usageType").and_then(Value::as_str) == Some(SIGNATURE),
                    content_type: map
                        .get("contentType")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                }),
                Some(_) => check.fail(&sha_path, "must be a SHA-2 digest in hex"),
                None => {}
            }
        }
    }
    found
}
