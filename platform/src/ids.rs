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

/// Declares an id of one kind of resource: a UUID as text (what both databases store and the
/// wire carries). `parse` reads one from a request and names the field when it is not a UUID;
/// `generate` makes a new, time-ordered one (UUIDv7); `From<String>` takes one already known to
/// be an id of this kind (read back from storage, or named by a peer that issued it).
macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id a request names in `field`, or INVALID_ARGUMENT naming that field.
            pub fn parse(field: &str, text: &str) -> Result<Self, AppError> {
                crate::validate::parse_id(field, text)?;
                Ok(Self(text.to_string()))
            }

            /// A new id, ordered by the time it was made.
            pub fn generate() -> Self {
                Self(crate::validate::new_id())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

resource_id!(
    /// A pathway: the same id through its versions, in every service that refers to it.
    PathwayId
);
resource_id!(
    /// A person in the directory (enrolment-service), not the subject of a token.
    PersonId
);
resource_id!(
    /// One enrolment of a learner on a pathway (one cycle of a recurring one).
    EnrolmentId
);

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

    #[test]
    fn a_resource_id_from_a_request_must_be_a_uuid_and_names_its_field() {
        let id = PathwayId::generate();
        assert_eq!(PathwayId::parse("pathway_id", &id).unwrap(), id);
        let error = PathwayId::parse("pathway_id", "not-a-uuid").unwrap_err();
        assert!(error.to_string().contains("pathway_id"), "{error}");
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }
}
