//! A person's choices about what they are told, and how.

use crate::domain::kind::Kind;

/// A person's preferences (the defaults when they never set any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Optional kinds they do not want.
    pub muted: Vec<Kind>,
    /// Reminders by email as one daily digest.
    pub digest: bool,
}

impl Preferences {
    /// Whether a notification of `kind` waits for the daily digest instead of its own email.
    pub fn digests(&self, kind: Kind) -> bool {
        self.digest && kind.is_reminder()
    }
}
