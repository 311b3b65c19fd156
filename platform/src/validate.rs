//! Request validation that reports every field at fault at once.

use uuid::Uuid;

use crate::error::{AppError, FieldViolation};

/// Collects field violations; [`Violations::finish`] turns them into one `INVALID_ARGUMENT`.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations collected so far.
    pub fn into_violations(self) -> Vec<FieldViolation> {
        self.0
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Err(AppError::InvalidArgument {
            message: format!("invalid request: {message}"),
            violations: self.0,
        })
    }

    /// Required text of 1..=max characters (after trimming surrounding whitespace).
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else {
            self.max_text(field, value, max);
        }
    }

    /// Optional text of at most `max` characters.
    pub fn max_text(&mut self, field: &str, value: &str, max: usize) {
        let length = value.chars().count();
        if length > max {
            self.add(
                field,
                format!("must be at most {max} characters (got {length})"),
            );
        }
    }

    /// A number within an inclusive range.
    pub fn in_range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.add(
                field,
                format!("must be between {min} and {max} (got {value})"),
            );
        }
    }

    /// An http(s) URL of at most `max` characters.
    pub fn url(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if !(value.starts_with("https://") || value.starts_with("http://"))
            || value.contains(char::is_whitespace)
        {
            self.add(field, "must be an http:// or https:// URL");
        }
    }

    /// A required UUID; returns it when well formed.
    pub fn id(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            self.add(field, "must not be empty");
            return None;
        }
        match Uuid::parse_str(value) {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, "must be a UUID");
                None
            }
        }
    }

    /// A required id of one kind (`PathwayId`, `PersonId`, ...): the text, typed, when it is a
    /// UUID.
    pub fn typed_id<I: for<'a> From<&'a str>>(&mut self, field: &str, value: &str) -> Option<I> {
        self.id(field, value).map(|_| I::from(value))
    }

    /// An optional id of one kind: empty means absent.
    pub fn optional_typed_id<I: for<'a> From<&'a str>>(
        &mut self,
        field: &str,
        value: &str,
    ) -> Option<I> {
        self.optional_id(field, value).map(|_| I::from(value))
    }

    /// An optional UUID: empty means absent.
    pub fn optional_id(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            None
        } else {
            self.id(field, value)
        }
    }
}

/// Parses one required id, failing alone: for requests whose only input is an id.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, AppError> {
    let mut violations = Violations::new();
    let id = violations.id(field, value);
    violations.finish()?;
    Ok(id.expect("a valid id when no violation was recorded"))
}

/// A new time-ordered id (UUIDv7), as every resource uses.
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_violation() {
        let mut v = Violations::new();
        v.required_text("name", "  ", 10);
        v.max_text("description", "abcdef", 3);
        v.id("parent_id", "not-a-uuid");
        let err = v.finish().unwrap_err();
        match err {
            AppError::InvalidArgument { violations, .. } => {
                let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
                assert_eq!(fields, ["name", "description", "parent_id"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn counts_characters_not_bytes() {
        let mut v = Violations::new();
        v.max_text("name", "ééé", 3);
        assert!(v.is_empty());
    }

    #[test]
    fn urls_must_be_http() {
        let mut v = Violations::new();
        v.url("a", "javascript:alert(1)", 100);
        v.url("b", "https://example.com/x", 100);
        assert_eq!(v.0.len(), 1);
        assert_eq!(v.0[0].field, "a");
    }
}
