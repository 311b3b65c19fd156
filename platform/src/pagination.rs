//! AIP-158 pagination: page sizes and opaque page tokens.
//!
//! A token carries the sort key of the last item served (keyset pagination: stable under inserts,
//! no OFFSET scans) and a fingerprint of the filters it was issued for, so a token reused with
//! other filters is rejected instead of silently skipping rows.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

/// The effective page size: 0 means the default; above the maximum is lowered to it.
pub fn page_size(requested: i32) -> Result<i64, AppError> {
    match requested {
        n if n < 0 => Err(AppError::invalid_field("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// Sort key of the last item of the previous page.
    k: Vec<String>,
    /// Fingerprint of the request's filters.
    f: u64,
}

/// Encodes the token for the page after the item whose sort key is `last_key`.
pub fn encode(last_key: Vec<String>, filters: &str) -> String {
    let token = Token {
        k: last_key,
        f: fingerprint(filters),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("a token serialises"))
}

/// Decodes a request's page token: `None` for the first page.
pub fn decode(page_token: &str, filters: &str) -> Result<Option<Vec<String>>, AppError> {
    if page_token.is_empty() {
        return Ok(None);
    }
    let invalid = || AppError::invalid_field("page_token", "is not a token this list issued");
    let bytes = URL_SAFE_NO_PAD.decode(page_token).map_err(|_| invalid())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.f != fingerprint(filters) {
        return Err(AppError::invalid_field(
            "page_token",
            "was issued for different filters",
        ));
    }
    Ok(Some(token.k))
}

/// Decodes a token whose sort key has exactly `N` parts: `None` for the first page.
pub fn decode_key<const N: usize>(
    page_token: &str,
    filters: &str,
) -> Result<Option<[String; N]>, AppError> {
    match decode(page_token, filters)? {
        None => Ok(None),
        Some(parts) => <[String; N]>::try_from(parts)
            .map(Some)
            .map_err(|_| AppError::invalid_field("page_token", "is malformed")),
    }
}

/// Stable across builds and platforms, so a token outlives a restart.
fn fingerprint(text: &str) -> u64 {
    crate::fingerprint::fingerprint(text.bytes())
}

/// A page of results and the token of the next page ("" at the end).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// Cuts a `limit + 1` query result to `limit` and issues the next token only when more rows
/// exist, so the last page never points at an empty one.
pub fn paginate<T>(
    mut items: Vec<T>,
    limit: i64,
    filters: &str,
    key: impl Fn(&T) -> Vec<String>,
) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_page_token = match (more, items.last()) {
        (true, Some(last)) => encode(key(last), filters),
        _ => String::new(),
    };
    Page {
        items,
        next_page_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_key() {
        let token = encode(vec!["3".into(), "abc".into()], "category=x");
        assert_eq!(
            decode(&token, "category=x").unwrap(),
            Some(vec!["3".to_string(), "abc".to_string()])
        );
    }

    #[test]
    fn rejects_a_token_for_other_filters() {
        let token = encode(vec!["a".into()], "status=DRAFT");
        assert!(decode(&token, "status=PUBLISHED").is_err());
    }

    #[test]
    fn keys_of_the_wrong_length_are_malformed() {
        let token = encode(vec!["a".into(), "b".into()], "");
        assert!(decode_key::<1>(&token, "").is_err());
        assert_eq!(
            decode_key::<2>(&token, "").unwrap(),
            Some(["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("!!!", "").is_err());
        assert!(decode("bm90IGpzb24", "").is_err());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(10_000).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert!(page_size(-1).is_err());
    }
}
