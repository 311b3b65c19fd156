//! Walking a JSON statement and collecting every way it breaks the specification, each as a
//! field violation named by its path (`statements[2].actor.mbox`), so a client sees all of its
//! mistakes at once.

use lms_platform::error::FieldViolation;
use serde_json::{Map, Value};

use super::{Version, formats};

/// The violations found so far, and the xAPI version the statements are read under.
pub struct Check {
    violations: Vec<FieldViolation>,
    pub version: Version,
}

/// `parent.key`, or `key` at the top.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Check {
    pub fn new(version: Version) -> Self {
        Self {
            violations: Vec::new(),
            version,
        }
    }

    pub fn fail(&mut self, path: &str, description: impl Into<String>) {
        self.violations.push(FieldViolation {
            field: path.to_string(),
            description: description.into(),
        });
    }

    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn into_violations(self) -> Vec<FieldViolation> {
        self.violations
    }

    /// An object holding only `allowed` properties (names are case-sensitive) and no nulls.
    pub fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.fail(path, "must be a JSON object");
            return None;
        };
        for (key, inner) in map {
            if !allowed.contains(&key.as_str()) {
                self.fail(&join(path, key), "is not a property xAPI defines here");
            } else if inner.is_null() {
                self.fail(&join(path, key), "must not be null");
            }
        }
        Some(map)
    }

    /// The property `key`, failing when it is absent.
    pub fn required<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Value> {
        let value = map.get(key).filter(|v| !v.is_null());
        if value.is_none() && !map.contains_key(key) {
            self.fail(&join(path, key), "is required");
        }
        value
    }

    pub fn string<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        let text = value.as_str();
        if text.is_none() {
            self.fail(path, "must be a string");
        }
        text
    }

    pub fn boolean(&mut self, value: &Value, path: &str) -> Option<bool> {
        let flag = value.as_bool();
        if flag.is_none() {
            self.fail(path, "must be true or false");
        }
        flag
    }

    pub fn number(&mut self, value: &Value, path: &str) -> Option<f64> {
        let number = value.as_f64();
        if number.is_none() {
            self.fail(path, "must be a number");
        }
        number
    }

    /// An array, whose items the caller checks.
    pub fn array<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        let items = value.as_array();
        if items.is_none() {
            self.fail(path, "must be a JSON array");
        }
        items
    }

    /// An absolute IRI.
    pub fn iri<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        let text = self.string(value, path)?;
        if formats::is_iri(text) {
            Some(text)
        } else {
            self.fail(path, "must be an absolute IRI (scheme:...)");
            None
        }
    }

    /// A UUID in canonical form, lowercased.
    pub fn uuid(&mut self, value: &Value, path: &str) -> Option<String> {
        let text = self.string(value, path)?;
        let uuid = formats::uuid(text);
        if uuid.is_none() {
            self.fail(path, "must be a UUID (8-4-4-4-12 hex digits)");
        }
        uuid
    }

    pub fn timestamp(&mut self, value: &Value, path: &str) {
        if let Some(text) = self.string(value, path)
            && formats::timestamp(text).is_none()
        {
            self.fail(
                path,
                "must be an ISO 8601 timestamp with a time zone (2013-05-18T05:32:34.804Z)",
            );
        }
    }

    /// A language map: RFC 5646 tags to strings.
    pub fn language_map(&mut self, value: &Value, path: &str) {
        let Some(map) = value.as_object() else {
            self.fail(
                path,
                "must be a language map (an object of language tags to strings)",
            );
            return;
        };
        for (tag, text) in map {
            let at = join(path, tag);
            if !formats::is_language_tag(tag) {
                self.fail(&at, "is not an RFC 5646 language tag");
            }
            if !text.is_string() {
                self.fail(&at, "must be a string");
            }
        }
    }

    /// Extensions: IRIs to any JSON value (null included: extensions are the producer's).
    pub fn extensions(&mut self, value: &Value, path: &str) {
        let Some(map) = value.as_object() else {
            self.fail(path, "must be an object of IRIs to values");
            return;
        };
        for key in map.keys() {
            if !formats::is_iri(key) {
                self.fail(
                    &join(path, key),
                    "an extension's key must be an absolute IRI",
                );
            }
        }
    }

    /// The `objectType` property when present: it must be one of `allowed`.
    pub fn object_type<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v str> {
        let value = map.get("objectType")?;
        let at = join(path, "objectType");
        let text = self.string(value, &at)?;
        if allowed.contains(&text) {
            Some(text)
        } else {
            self.fail(&at, format!("must be {}", allowed.join(" or ")));
            None
        }
    }
}
