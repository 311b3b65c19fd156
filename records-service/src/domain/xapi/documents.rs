//! The document resources (xAPI Communication 2.2–2.7): State, Activity Profile and Agent
//! Profile — opaque documents a client keeps per activity, agent (and registration), with
//! ETags for concurrency and a JSON merge for POST.

use serde_json::Value;

use super::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Per activity, agent and (optional) registration: `stateId`.
    State,
    /// Per activity: `profileId`.
    ActivityProfile,
    /// Per agent: `profileId`.
    AgentProfile,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::State => "state",
            DocumentKind::ActivityProfile => "activity_profile",
            DocumentKind::AgentProfile => "agent_profile",
        }
    }
}

/// How a document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Put,
    /// Merged into a stored JSON object, or stored as is when there is none.
    Post,
    Delete,
}

/// The client's preconditions: `If-Match` (an ETag or `*`) and `If-None-Match` (`*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

/// Why a write is refused before it changes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 412: a precondition does not hold.
    PreconditionFailed(String),
    /// 409: a PUT over an existing document without saying which version it replaces.
    Conflict(String),
}

/// A document's ETag: the SHA-1 of its content in lowercase hex, as xAPI 1.0.3 requires
/// (2.0.0 accepts any strong ETag).
pub fn etag(content: &[u8]) -> String {
    crate::domain::digests::hex_digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, content)
}

fn unquoted(tag: &str) -> &str {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"')
}

/// Whether `write` may go ahead over the document whose ETag is `current` (None: there is
/// none): `If-Match` must name it (or be `*` with a document there), `If-None-Match: *` wants
/// none; a PUT over an existing profile (and, under 2.0.0, state) must say one of the two.
pub fn check(
    kind: DocumentKind,
    write: Write,
    current: Option<&str>,
    given: &Preconditions,
    version: Version,
) -> Result<(), Refusal> {
    if let Some(expected) = &given.if_match {
        let holds = match current {
            None => false,
            Some(current) => expected
                .split(',')
                .any(|tag| tag.trim() == "*" || unquoted(tag) == current),
        };
        if !holds {
            return Err(Refusal::PreconditionFailed(match current {
                None => "If-Match: there is no such document".into(),
                Some(_) => "If-Match: the document has changed since that ETag".into(),
            }));
        }
    }
    if let Some(unwanted) = &given.if_none_match
        && let Some(current) = current
        && unwanted
            .split(',')
            .any(|tag| tag.trim() == "*" || unquoted(tag) == current)
    {
        return Err(Refusal::PreconditionFailed(
            "If-None-Match: the document exists".into(),
        ));
    }
    // xAPI 1.0.3 lets State be written without preconditions; 2.0.0 asks them of every PUT
    // over an existing document.
    let must_say = kind != DocumentKind::State || version == Version::V2;
    if write == Write::Put
        && must_say
        && current.is_some()
        && given.if_match.is_none()
        && given.if_none_match.is_none()
    {
        return Err(Refusal::Conflict(
            "the document exists: send If-Match with its ETag (or If-None-Match: *) to say \
             which version you replace"
                .into(),
        ));
    }
    Ok(())
}

/// POST's merge: both the stored and the posted document JSON objects, the posted
/// properties replacing the stored ones (a shallow merge); anything else is refused.
pub fn merge(
    stored: &[u8],
    stored_type: &str,
    posted: &[u8],
    posted_type: &str,
) -> Result<Vec<u8>, String> {
    let object = |bytes: &[u8], content_type: &str, which: &str| {
        if !is_json(content_type) {
            return Err(format!(
                "the {which} document is not application/json, so the two cannot be merged"
            ));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(format!(
                "the {which} document is not a JSON object, so the two cannot be merged"
            )),
        }
    };
    let mut merged = object(stored, stored_type, "stored")?;
    merged.extend(object(posted, posted_type, "posted")?);
    Ok(Value::Object(merged).to_string().into_bytes())
}

pub fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(if_match: Option<&str>, if_none_match: Option<&str>) -> Preconditions {
        Preconditions {
            if_match: if_match.map(str::to_string),
            if_none_match: if_none_match.map(str::to_string),
        }
    }

    #[test]
    fn etags_are_sha1_of_the_content() {
        // SHA-1 of "abc" (FIPS 180-1's example).
        assert_eq!(etag(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn preconditions() {
        use DocumentKind::*;
        let (none, current) = (given(None, None), Some("abc"));
        assert_eq!(
            check(ActivityProfile, Write::Put, None, &none, Version::V1),
            Ok(())
        );
        assert!(matches!(
            check(ActivityProfile, Write::Put, current, &none, Version::V1),
            Err(Refusal::Conflict(_))
        ));
        // State: 1.0.3 lets a PUT replace it without preconditions; 2.0.0 does not.
        assert_eq!(
            check(State, Write::Put, current, &none, Version::V1),
            Ok(())
        );
        assert!(check(State, Write::Put, current, &none, Version::V2).is_err());
        assert_eq!(
            check(State, Write::Post, current, &none, Version::V2),
            Ok(())
        );
        let matching = given(Some("\"abc\""), None);
        assert_eq!(
            check(AgentProfile, Write::Put, current, &matching, Version::V1),
            Ok(())
        );
        assert_eq!(
            check(
                AgentProfile,
                Write::Put,
                current,
                &given(Some("*"), None),
                Version::V1
            ),
            Ok(())
        );
        let stale = given(Some("\"def\""), None);
        for write in [Write::Put, Write::Post, Write::Delete] {
            assert!(matches!(
                check(AgentProfile, write, current, &stale, Version::V1),
                Err(Refusal::PreconditionFailed(_))
            ));
        }
        assert!(check(AgentProfile, Write::Put, None, &matching, Version::V1).is_err());
        let create_only = given(None, Some("*"));
        assert_eq!(
            check(AgentProfile, Write::Put, None, &create_only, Version::V1),
            Ok(())
        );
        assert!(check(AgentProfile, Write::Put, current, &create_only, Version::V1).is_err());
    }

    #[test]
    fn post_merges_json_objects_only() {
        let merged = merge(
            br#"{"x":"foo","y":"bar"}"#,
            "application/json",
            br#"{"x":"bash","z":"faz"}"#,
            "application/json; charset=utf-8",
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&merged).unwrap(),
            serde_json::json!({"x": "bash", "y": "bar", "z": "faz"})
        );
        assert!(merge(b"[1]", "application/json", b"{}", "application/json").is_err());
        assert!(merge(b"{}", "text/plain", b"{}", "application/json").is_err());
        assert!(merge(b"{}", "application/json", b"not json", "application/json").is_err());
    }
}
