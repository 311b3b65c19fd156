//! AIP-134 over REST: a PATCH without `updateMask` changes the fields present in its body, and
//! mask paths may be written in either spelling (`job_title` or `jobTitle`).

use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::routes::{Route, Segment};

/// The name of the field the mask is relative to, when `route` is an update with a mask: the
/// message field whose id the path binds (`{person.id}` → `person`).
fn resource_field(route: &Route) -> Option<String> {
    if route.http_method != http::Method::PATCH
        || route
            .method
            .input()
            .get_field_by_name("update_mask")
            .is_none()
    {
        return None;
    }
    route
        .template
        .segments
        .iter()
        .find_map(|segment| match segment {
            Segment::Field(path) if path.len() == 2 => Some(path[0].clone()),
            _ => None,
        })
}

/// Sets `updateMask` to the resource fields present in the body when the request gives none
/// (a mask given in the body is put in lowerCamelCase). Call before the path's values are
/// bound, so that the id in the path is not counted.
pub fn infer(route: &Route, root: &mut Map<String, Value>, query: Option<&str>) {
    let Some(resource) = resource_field(route) else {
        return;
    };
    let input = route.method.input();
    let in_query = query.is_some_and(|query| {
        form_urlencoded::parse(query.as_bytes())
            .any(|(key, value)| (key == "updateMask" || key == "update_mask") && !value.is_empty())
    });
    for key in ["updateMask", "update_mask"] {
        if let Some(Value::String(given)) = root.remove(key) {
            root.insert(
                "updateMask".to_string(),
                Value::String(camel_case_paths(&given)),
            );
            return;
        }
    }
    if in_query {
        return;
    }
    let Some(field) = input.get_field_by_name(&resource) else {
        return;
    };
    let Kind::Message(message) = field.kind() else {
        return;
    };
    let body = root
        .get(field.json_name())
        .or_else(|| root.get(field.name()))
        .and_then(Value::as_object);
    let paths = body
        .map(|body| present_fields(&message, body))
        .unwrap_or_default();
    // With no field in the body the mask stays unset: the service then changes the fields the
    // message populates, which is none.
    if !paths.is_empty() {
        root.insert("updateMask".to_string(), Value::String(paths.join(",")));
    }
}

/// The JSON names of the message's fields that `body` gives (sorted, as JSON maps are). Keys that
/// are no field are left for deserialisation to refuse.
fn present_fields(message: &MessageDescriptor, body: &Map<String, Value>) -> Vec<String> {
    body.keys()
        .filter_map(|key| {
            message
                .fields()
                .find(|f| f.json_name() == key || f.name() == key)
                .map(|f| f.json_name().to_string())
        })
        .collect()
}

/// A field mask's text with each path in lowerCamelCase, the spelling proto3 JSON expects.
pub fn camel_case_paths(text: &str) -> String {
    text.split(',')
        .map(|path| {
            path.trim()
                .split('.')
                .map(camel_case)
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mask_paths_are_camel_cased() {
        assert_eq!(
            super::camel_case_paths("job_title, displayName,due_policy.days"),
            "jobTitle,displayName,duePolicy.days"
        );
    }
}
