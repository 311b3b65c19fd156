//! The three forms a statement is returned in (xAPI Communication 2.1.3 `format`): `exact`
//! as stored, `ids` with agents, groups, activities and verbs reduced to what identifies
//! them, `canonical` with each activity's definition as the store keeps it (gathered from
//! every statement naming it) and every language map reduced to the one language the reader
//! prefers.

use std::collections::HashMap;

use serde_json::{Map, Value};

const IFIS: [&str; 4] = ["mbox", "mbox_sha1sum", "openid", "account"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Exact,
    Ids,
    Canonical,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "exact" => Some(Format::Exact),
            "ids" => Some(Format::Ids),
            "canonical" => Some(Format::Canonical),
            _ => None,
        }
    }
}

/// What the store keeps of the activities and verbs statements name, by id: shown in
/// `canonical` format in place of a statement's own.
#[derive(Debug, Default)]
pub struct Canonical {
    /// Activities' definitions.
    pub activities: HashMap<String, Value>,
    /// Verbs' displays.
    pub verbs: HashMap<String, Value>,
}

/// The statement in `format`; `languages` are the reader's, most preferred first;
/// `canonical` what the store keeps of the activities and verbs it names.
pub fn render(
    mut statement: Value,
    format: Format,
    languages: &[String],
    canonical: &Canonical,
) -> Value {
    match format {
        Format::Exact => {}
        Format::Ids => {
            if let Some(map) = statement.as_object_mut() {
                ids_statement(map);
            }
        }
        Format::Canonical => {
            if let Some(map) = statement.as_object_mut() {
                substitute(map, canonical);
            }
            one_language(&mut statement, languages, false)
        }
    }
    statement
}

/// The ids of the Activities a statement names: its object, its context activities, and
/// those of a SubStatement.
pub fn activity_ids(statement: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let object = &statement["object"];
    match object["objectType"].as_str() {
        Some("SubStatement") => ids.extend(activity_ids(object)),
        None | Some("Activity") => ids.extend(object["id"].as_str().map(str::to_string)),
        _ => {}
    }
    if let Some(lists) = statement["context"]["contextActivities"].as_object() {
        for list in lists.values().filter_map(Value::as_array) {
            ids.extend(
                list.iter()
                    .filter_map(|a| a["id"].as_str().map(str::to_string)),
            );
        }
    }
    ids
}

/// The ids of the verbs a statement names: its own, and its SubStatement's.
pub fn verb_ids(statement: &Value) -> Vec<String> {
    let sub = &statement["object"];
    let sub = (sub["objectType"] == "SubStatement").then_some(&sub["verb"]);
    [Some(&statement["verb"]), sub]
        .into_iter()
        .flatten()
        .filter_map(|verb| verb["id"].as_str().map(str::to_string))
        .collect()
}

/// Puts each named activity's canonical definition, and the verb's canonical display, in
/// place of the statement's own.
fn substitute(map: &mut Map<String, Value>, canonical: &Canonical) {
    if let Some(verb) = map.get_mut("verb").and_then(Value::as_object_mut)
        && let Some(display) = verb
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| canonical.verbs.get(id))
    {
        verb.insert("display".into(), display.clone());
    }
    let definitions = &canonical.activities;
    let mut give = |activity: &mut Value| {
        let known = activity["id"].as_str().and_then(|id| definitions.get(id));
        if let (Some(known), Some(activity)) = (known, activity.as_object_mut()) {
            activity.insert("definition".into(), known.clone());
        }
    };
    if let Some(object) = map.get_mut("object") {
        match object["objectType"].as_str() {
            Some("SubStatement") => {
                if let Some(inner) = object.as_object_mut() {
                    substitute(inner, canonical);
                }
            }
            None | Some("Activity") => give(object),
            _ => {}
        }
    }
    if let Some(Value::Object(lists)) = map
        .get_mut("context")
        .and_then(|context| context.get_mut("contextActivities"))
    {
        for list in lists.values_mut() {
            if let Value::Array(items) = list {
                items.iter_mut().for_each(&mut give);
            }
        }
    }
}

fn ids_statement(map: &mut Map<String, Value>) {
    for key in ["actor", "authority"] {
        if let Some(who) = map.get_mut(key) {
            *who = ids_agent(who);
        }
    }
    if let Some(Value::Object(verb)) = map.get_mut("verb") {
        verb.retain(|key, _| key == "id");
    }
    if let Some(object) = map.get_mut("object") {
        match object.get("objectType").and_then(Value::as_str) {
            Some("Agent" | "Group") => *object = ids_agent(object),
            Some("SubStatement") => {
                if let Some(inner) = object.as_object_mut() {
                    ids_statement(inner);
                }
            }
            Some("StatementRef") => {}
            _ => *object = ids_activity(object),
        }
    }
    if let Some(Value::Object(context)) = map.get_mut("context") {
        for key in ["instructor", "team"] {
            if let Some(who) = context.get_mut(key) {
                *who = ids_agent(who);
            }
        }
        if let Some(Value::Object(lists)) = context.get_mut("contextActivities") {
            for list in lists.values_mut() {
                if let Value::Array(items) = list {
                    for item in items {
                        *item = ids_activity(item);
                    }
                }
            }
        }
        for (list, inner) in [("contextAgents", "agent"), ("contextGroups", "group")] {
            if let Some(Value::Array(items)) = context.get_mut(list) {
                for item in items {
                    if let Some(who) = item.get_mut(inner) {
                        *who = ids_agent(who);
                    }
                }
            }
        }
    }
}

/// An Agent or Group as its objectType and identifier; an anonymous Group as its members'.
fn ids_agent(who: &Value) -> Value {
    let mut reduced = Map::new();
    let kind = who
        .get("objectType")
        .and_then(Value::as_str)
        .unwrap_or("Agent");
    reduced.insert("objectType".into(), Value::String(kind.into()));
    let mut identified = false;
    for ifi in IFIS {
        if let Some(value) = who.get(ifi) {
            reduced.insert(ifi.into(), value.clone());
            identified = true;
        }
    }
    if kind == "Group"
        && !identified
        && let Some(Value::Array(members)) = who.get("member")
    {
        reduced.insert(
            "member".into(),
            Value::Array(members.iter().map(ids_agent).collect()),
        );
    }
    Value::Object(reduced)
}

fn ids_activity(activity: &Value) -> Value {
    let mut reduced = Map::new();
    reduced.insert("objectType".into(), Value::String("Activity".into()));
    if let Some(id) = activity.get("id") {
        reduced.insert("id".into(), id.clone());
    }
    Value::Object(reduced)
}

/// Reduces every language map (verb display, activity names and descriptions, interaction
/// components', attachments') to one entry: the reader's first language the map has
/// (`en` matching `en-US` too), else the map's first.
fn one_language(value: &mut Value, languages: &[String], in_extensions: bool) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let is_language_map = !in_extensions
                    && matches!(key.as_str(), "display" | "name" | "description")
                    && inner.is_object();
                if is_language_map && let Value::Object(texts) = inner {
                    choose(texts, languages);
                } else {
                    one_language(inner, languages, in_extensions || key == "extensions");
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                one_language(item, languages, in_extensions);
            }
        }
        _ => {}
    }
}

fn choose(texts: &mut Map<String, Value>, languages: &[String]) {
    let wanted = languages.iter().find_map(|wanted| {
        let wanted = wanted.to_ascii_lowercase();
        texts.keys().find(|tag| {
            let tag = tag.to_ascii_lowercase();
            tag == wanted
                || tag.starts_with(&format!("{wanted}-"))
                || wanted.starts_with(&format!("{tag}-"))
        })
    });
    let Some(keep) = wanted.or_else(|| texts.keys().next()).cloned() else {
        return;
    };
    texts.retain(|tag, _| *tag == keep);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn statement() -> Value {
        json!({
            "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
            "actor": {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.com"},
            "verb": {"id": "http://example.com/did", "display": {"en-US": "did", "fr-FR": "a fait"}},
            "object": {"objectType": "Activity", "id": "http://example.com/a",
                       "definition": {"name": {"en-GB": "Intro", "de": "Einführung"}}},
            "context": {"team": {"objectType": "Group", "name": "T", "member": [{"name": "B", "mbox": "mailto:b@example.com"}]},
                        "extensions": {"http://example.com/x": {"name": {"en": "kept", "de": "kept"}}}}
        })
    }

    fn render(statement: Value, format: Format, languages: &[String]) -> Value {
        super::render(statement, format, languages, &Canonical::default())
    }

    #[test]
    fn canonical_shows_the_stores_definitions() {
        let mut named = statement();
        named["context"]["contextActivities"] = json!({"parent": [{"id": "http://example.com/course"}, {"id": "http://example.com/unknown"}]});
        assert_eq!(
            activity_ids(&named),
            [
                "http://example.com/a",
                "http://example.com/course",
                "http://example.com/unknown"
            ]
        );
        assert_eq!(verb_ids(&named), ["http://example.com/did"]);
        let kept = Canonical {
            activities: HashMap::from([
                (
                    "http://example.com/a".to_string(),
                    json!({"name": {"en-GB": "Intro", "de": "Einstieg", "fr": "Début"}}),
                ),
                (
                    "http://example.com/course".to_string(),
                    json!({"name": {"de": "Kurs"}}),
                ),
            ]),
            verbs: HashMap::from([(
                "http://example.com/did".to_string(),
                json!({"en-US": "did", "fr": "a réalisé"}),
            )]),
        };
        let canonical = super::render(named, Format::Canonical, &["fr".into()], &kept);
        assert_eq!(
            canonical["object"]["definition"]["name"],
            json!({"fr": "Début"})
        );
        assert_eq!(
            canonical["verb"]["display"],
            json!({"fr": "a réalisé"}),
            "the store's display, not the statement's fr-FR"
        );
        let parents = &canonical["context"]["contextActivities"]["parent"];
        assert_eq!(parents[0]["definition"]["name"], json!({"de": "Kurs"}));
        assert!(
            parents[1].get("definition").is_none(),
            "unknown: as the statement gave it"
        );
        // exact and ids never substitute.
        let exact = super::render(statement(), Format::Exact, &[], &kept);
        assert_eq!(exact, statement());
    }

    #[test]
    fn ids_keep_what_identifies() {
        let ids = render(statement(), Format::Ids, &[]);
        assert_eq!(
            ids["actor"],
            json!({"objectType": "Agent", "mbox": "mailto:ann@example.com"})
        );
        assert_eq!(ids["verb"], json!({"id": "http://example.com/did"}));
        assert_eq!(
            ids["object"],
            json!({"objectType": "Activity", "id": "http://example.com/a"})
        );
        assert_eq!(
            ids["context"]["team"],
            json!({"objectType": "Group", "member": [{"objectType": "Agent", "mbox": "mailto:b@example.com"}]})
        );
    }

    #[test]
    fn canonical_keeps_one_language_per_map() {
        let canonical = render(statement(), Format::Canonical, &["de".into(), "en".into()]);
        assert_eq!(canonical["verb"]["display"], json!({"en-US": "did"}));
        assert_eq!(
            canonical["object"]["definition"]["name"],
            json!({"de": "Einführung"})
        );
        // Extensions are the producer's: untouched.
        assert_eq!(
            canonical["context"]["extensions"]["http://example.com/x"]["name"],
            json!({"en": "kept", "de": "kept"})
        );
        assert_eq!(render(statement(), Format::Exact, &[]), statement());
    }
}
