//! Activities and their definitions (xAPI Data 2.4.4.1), interactions included.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::check::{Check, join};

const DEFINITION_PROPERTIES: [&str; 12] = [
    "name",
    "description",
    "type",
    "moreInfo",
    "extensions",
    "interactionType",
    "correctResponsesPattern",
    "choices",
    "scale",
    "source",
    "target",
    "steps",
];

const COMPONENT_LISTS: [&str; 5] = ["choices", "scale", "source", "target", "steps"];

/// The interaction types and the component lists each may carry.
const INTERACTIONS: [(&str, &[&str]); 10] = [
    ("true-false", &[]),
    ("choice", &["choices"]),
    ("fill-in", &[]),
    ("long-fill-in", &[]),
    ("matching", &["source", "target"]),
    ("performance", &["steps"]),
    ("sequencing", &["choices"]),
    ("likert", &["scale"]),
    ("numeric", &[]),
    ("other", &[]),
];

/// Checks an Activity; its id.
pub fn activity(check: &mut Check, value: &Value, path: &str) -> Option<String> {
    let map = check.object(value, path, &["objectType", "id", "definition"])?;
    check.object_type(map, path, &["Activity"]);
    if let Some(definition) = map.get("definition") {
        self::definition(check, definition, &join(path, "definition"));
    }
    let id = check.required(map, path, "id")?;
    check.iri(id, &join(path, "id")).map(str::to_string)
}

/// Checks one Activity or an array of them (context activities); their ids.
pub fn one_or_many(check: &mut Check, value: &Value, path: &str) -> Vec<String> {
    match value.as_array() {
        Some(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| activity(check, item, &format!("{path}[{index}]")))
            .collect(),
        None => activity(check, value, path).into_iter().collect(),
    }
}

fn definition(check: &mut Check, value: &Value, path: &str) {
    let Some(map) = check.object(value, path, &DEFINITION_PROPERTIES) else {
        return;
    };
    for key in ["name", "description"] {
        if let Some(value) = map.get(key) {
            check.language_map(value, &join(path, key));
        }
    }
    for key in ["type", "moreInfo"] {
        if let Some(value) = map.get(key) {
            check.iri(value, &join(path, key));
        }
    }
    if let Some(value) = map.get("extensions") {
        check.extensions(value, &join(path, "extensions"));
    }
    interaction(check, map, path);
}

fn interaction(check: &mut Check, map: &Map<String, Value>, path: &str) {
    let lists_given: Vec<&str> = COMPONENT_LISTS
        .into_iter()
        .filter(|list| map.contains_key(*list))
        .collect();
    let allowed: &[&str] = match map.get("interactionType") {
        None => {
            for key in lists_given.iter().copied().chain(
                map.contains_key("correctResponsesPattern")
                    .then_some("correctResponsesPattern"),
            ) {
                check.fail(
                    &join(path, key),
                    "is an interaction's property: give interactionType too",
                );
            }
            return;
        }
        Some(kind) => {
            let at = join(path, "interactionType");
            let Some(kind) = check.string(kind, &at) else {
                return;
            };
            match INTERACTIONS.iter().find(|(name, _)| *name == kind) {
                Some((_, lists)) => lists,
                None => {
                    let names: Vec<&str> = INTERACTIONS.iter().map(|(name, _)| *name).collect();
                    check.fail(&at, format!("must be one of {}", names.join(", ")));
                    return;
                }
            }
        }
    };
    if let Some(pattern) = map.get("correctResponsesPattern") {
        let at = join(path, "correctResponsesPattern");
        for (index, item) in check.array(pattern, &at).into_iter().flatten().enumerate() {
            check.string(item, &format!("{at}[{index}]"));
        }
    }
    for list in lists_given {
        let at = join(path, list);
        if !allowed.contains(&list) {
            check.fail(&at, "is not a component list of this interactionType");
            continue;
        }
        components(check, &map[list], &at);
    }
}

/// An interaction's components: `id` (distinct within the list) and a `description`.
fn components(check: &mut Check, value: &Value, path: &str) {
    let mut seen = HashSet::new();
    for (index, item) in check.array(value, path).into_iter().flatten().enumerate() {
        let at = format!("{path}[{index}]");
        let Some(map) = check.object(item, &at, &["id", "description"]) else {
            continue;
        };
        if let Some(description) = map.get("description") {
            check.language_map(description, &join(&at, "description"));
        }
        if let Some(id) = check.required(map, &at, "id")
            && let Some(id) = check.string(id, &join(&at, "id"))
            && !seen.insert(id.to_string())
        {
            check.fail(
                &join(&at, "id"),
                "ids must be distinct within a component list",
            );
        }
    }
}
