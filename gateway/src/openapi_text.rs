//! What the OpenAPI document says in words, taken from the proto files' comments (the one
//! place the contract is written down): operation summaries and descriptions, field
//! descriptions, and the length limits those comments state.

use prost_reflect::{FieldDescriptor, FileDescriptor, MethodDescriptor};
use serde_json::{Value, json};

/// The leading comment of the element at `path` in `file`, its lines joined.
fn comment(file: &FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let location = info.location.iter().find(|l| l.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}

/// The operation's summary (the comment's first sentence) and description (all of it).
pub fn operation(method: &MethodDescriptor) -> Option<(String, String)> {
    let text = comment(&method.parent_file(), method.path())?;
    let first = match text.find(". ") {
        Some(end) => &text[..=end],
        None => text.as_str(),
    };
    Some((first.trim().to_string(), text))
}

/// Adds the field's comment as its description, and the length limit the comment states
/// ("1..200 characters", "up to 10000 characters", "exactly 16 characters") as the string's
/// `maxLength` (and `minLength` when exact). Lists get the limit on their items.
pub fn describe_field(field: &FieldDescriptor, schema: &mut Value) {
    let Some(text) = comment(&field.parent_file(), field.path()) else {
        return;
    };
    if let Some((min, max)) = length_limit(&text) {
        let target = match schema.get_mut("items") {
            Some(items) if field.is_list() => items,
            _ => &mut *schema,
        };
        if target.get("type").and_then(Value::as_str) == Some("string")
            && target.get("format").is_none()
            && target.get("enum").is_none()
            && let Some(object) = target.as_object_mut()
        {
            object.insert("maxLength".into(), json!(max));
            if let Some(min) = min {
                object.insert("minLength".into(), json!(min));
            }
        }
    }
    if let Some(object) = schema.as_object_mut() {
        object.insert("description".into(), json!(text));
    }
}

/// `(exact length, max)` from a comment: "exactly N characters" → (N, N); "A..B characters" and
/// "up to B characters" → (None, B).
fn length_limit(text: &str) -> Option<(Option<u64>, u64)> {
    let lower = text.to_lowercase();
    let at = lower.find(" characters")?;
    let before = &lower[..at];
    let last = before.rsplit([' ', '(']).next()?;
    if let Some((_, max)) = last.split_once("..") {
        return max.parse().ok().map(|max| (None, max));
    }
    let number: u64 = last.parse().ok()?;
    if before.ends_with(&format!("exactly {last}")) {
        return Some((Some(number), number));
    }
    if before.ends_with(&format!("up to {last}")) {
        return Some((None, number));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::length_limit;

    #[test]
    fn limits_are_read_from_the_comment() {
        assert_eq!(
            length_limit("1..200 characters, unique."),
            Some((None, 200))
        );
        assert_eq!(length_limit("Up to 10000 characters."), Some((None, 10000)));
        assert_eq!(
            length_limit("The code printed on it: exactly 16 characters."),
            Some((Some(16), 16))
        );
        assert_eq!(
            length_limit("Up to 20 tags of 1..50 characters."),
            Some((None, 50))
        );
        assert_eq!(length_limit("A title."), None);
    }
}
