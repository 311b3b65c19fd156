//! Role bindings: a person's role on a part of the tenant (the decision point's facts).

use chrono::NaiveDateTime;
use lms_platform::access::{Grant, Scope, ScopedRole};

/// A person holds at most this many bindings (so the decision point reads them in one page).
pub const MAX_BINDINGS_PER_PRINCIPAL: i64 = lms_platform::access::MAX_BINDINGS_PER_PRINCIPAL as i64;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleBinding {
    pub id: String,
    /// The person's external id (their token subject).
    pub principal: String,
    pub role: ScopedRole,
    pub scope: Scope,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

impl RoleBinding {
    pub fn grant(&self) -> Grant {
        Grant {
            role: self.role,
            scope: self.scope.clone(),
        }
    }
}
