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

impl Scope {
    /// The group as a role binding names it (a team is not one: managers need no binding).
    pub fn group(&self) -> Option<lms_platform::access::Scope> {
        use lms_platform::access::Scope as Group;
        Some(match self {
            Scope::Audience(id) => Group::Audience(id.clone()),
            Scope::Class(id) => Group::Class(id.clone()),
            Scope::Department(name) => Group::Department(name.clone()),
            Scope::Team { .. } => return None,
        })
    }
}
