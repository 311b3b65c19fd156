//! Compliance reports: whose compliance a report shows.

/// The people a report is scoped to (all learners of the pathway when there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Audience(String),
    /// The class's students.
    Class(String),
    Department(String),
    /// A manager's direct reports, or everyone below them.
    Team {
        manager: String,
        whole_subtree: bool,
    },
}
