//! The Activities resource's canonical definitions: what statements say of an activity,
//! gathered. Language maps are merged (a newer text for a language replaces the older), every
//! other property takes the newest statement's value. And verbs' canonical displays, gathered
//! the same way.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

const LANGUAGE_MAPS: [&str; 2] = ["name", "description"];

/// Every `(activity id, definition)` a statement gives: its object, its context activities,
/// and those of a SubStatement object.
pub fn given(statement: &Map<String, Value>) -> Vec<(String, Map<String, Value>)> {
    let mut found = Vec::new();
    collect(statement, &mut found);
    found
}

fn collect(statement: &Map<String, Value>, found: &mut Vec<(String, Map<String, Value>)>) {
    if let Some(object) = statement.get("object") {
        match object.get("objectType").and_then(Value::as_str) {
            None | Some("Activity") => push(object, found),
            Some("SubStatement") => {
                if let Some(inner) = object.as_object() {
                    collect(inner, found);
                }
            }
            _ => {}
        }
    }
    let context = statement.get("context");
    if let Some(Value::Object(lists)) = context.and_then(|c| c.get("contextActivities")) {
        for list in lists.values() {
            for activity in list.as_array().into_iter().flatten() {
                push(activity, found);
            }
        }
    }
}

fn push(activity: &Value, found: &mut Vec<(String, Map<String, Value>)>) {
    if let (Some(id), Some(Value::Object(definition))) = (
        activity.get("id").and_then(Value::as_str),
        activity.get("definition"),
    ) {
        found.push((id.to_string(), definition.clone()));
    }
}

/// `older` with `newer` laid over it.
pub fn merge(mut older: Map<String, Value>, newer: &Map<String, Value>) -> Map<String, Value> {
    for (key, value) in newer {
        match (older.get_mut(key), value) {
            (Some(Value::Object(kept)), Value::Object(texts))
                if LANGUAGE_MAPS.contains(&key.as_str()) =>
            {
                kept.extend(texts.clone());
            }
            _ => {
                older.insert(key.clone(), value.clone());
            }
        }
    }
    older
}

/// The definitions of one batch of statements, merged per activity in order.
pub fn gathered<'a>(
    statements: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> BTreeMap<String, Map<String, Value>> {
    let mut merged: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for statement in statements {
        for (id, definition) in given(statement) {
            let kept = merged.remove(&id).unwrap_or_default();
            merged.insert(id, merge(kept, &definition));
        }
    }
    merged
}

/// The verb displays of one batch of statements (a statement's verb, and its SubStatement's),
/// merged per verb in order: a newer text for a language replaces the older.
pub fn verb_displays<'a>(
    statements: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> BTreeMap<String, Map<String, Value>> {
    let mut merged: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for statement in statements {
        let sub = statement
            .get("object")
            .filter(|object| object["objectType"] == "SubStatement");
        for verb in [statement.get("verb"), sub.and_then(|s| s.get("verb"))]
            .into_iter()
            .flatten()
        {
            if let (Some(id), Some(Value::Object(display))) =
                (verb["id"].as_str(), verb.get("display"))
            {
                merged
                    .entry(id.to_string())
                    .or_default()
                    .extend(display.clone());
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn languages_gather_and_the_rest_is_the_newest() {
        let first = json!({"object": {"id": "http://e.com/a", "definition": {"name": {"en-US": "Intro"}, "type": "http://e.com/t1"}},
                           "context": {"contextActivities": {"parent": [{"id": "http://e.com/p", "definition": {"name": {"en": "Course"}}}]}}});
        let second = json!({"object": {"id": "http://e.com/a", "definition": {"name": {"fr": "Intro FR", "en-US": "Introduction"}, "type": "http://e.com/t2"}}});
        let merged = gathered([first.as_object().unwrap(), second.as_object().unwrap()]);
        assert_eq!(
            Value::Object(merged["http://e.com/a"].clone()),
            json!({"name": {"en-US": "Introduction", "fr": "Intro FR"}, "type": "http://e.com/t2"})
        );
        assert_eq!(
            Value::Object(merged["http://e.com/p"].clone()),
            json!({"name": {"en": "Course"}})
        );
    }

    #[test]
    fn verb_displays_gather_by_language() {
        let first = json!({"verb": {"id": "http://e.com/v", "display": {"en-US": "did"}},
                           "object": {"objectType": "SubStatement", "verb": {"id": "http://e.com/w", "display": {"de": "plant"}}}});
        let second = json!({"verb": {"id": "http://e.com/v", "display": {"fr": "a fait", "en-US": "has done"}}});
        let third = json!({"verb": {"id": "http://e.com/x"}});
        let merged = verb_displays([
            first.as_object().unwrap(),
            second.as_object().unwrap(),
            third.as_object().unwrap(),
        ]);
        assert_eq!(
            Value::Object(merged["http://e.com/v"].clone()),
            json!({"en-US": "has done", "fr": "a fait"})
        );
        assert_eq!(
            Value::Object(merged["http://e.com/w"].clone()),
            json!({"de": "plant"})
        );
        assert!(
            !merged.contains_key("http://e.com/x"),
            "no display, nothing kept"
        );
    }
}
