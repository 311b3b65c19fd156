//! Identifiers as types: a tenant id is not a pathway id, and neither is any string.
//!
//! Each is text underneath (what both databases store and the wire carries); serde and diesel
//! read and write it as that text, and it derefs to `&str` where text is wanted.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The tenant a principal acts for: taken from the verified token (or, for a service identity,
/// the tenant it names), never from a request field. 1..64 of `A-Z a-z 0-9 - _`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType,
)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(text: &str) -> Result<Self, AppError> {
        if valid_tenant_id(text) {
            Ok(Self(text.to_string()))
        } else {
            Err(AppError::invalid_field(
                "tenant",
                "must be 1..64 characters of A-Z a-z 0-9 - _",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `text` may name a tenant.
pub fn valid_tenant_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl TryFrom<String> for TenantId {
    type Error = AppError;
    fn try_from(text: String) -> Result<Self, AppError> {
        Self::parse(&text)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

impl std::ops::Deref for TenantId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TenantId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tenant_ids_parse() {
        assert_eq!(TenantId::parse("acme-1_x").unwrap().as_str(), "acme-1_x");
        for bad in ["", "a b", "ä", &"x".repeat(65), "a/b"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tenant_id_is_text_on_the_wire() {
        let id = TenantId::parse("acme").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
        assert!(serde_json::from_str::<TenantId>("\"no spaces\"").is_err());
    }
}
