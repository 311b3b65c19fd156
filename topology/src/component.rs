//! The components of the suite.

/// One deployable component: what `lms serve <component>` runs and the chart deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Pathway,
    Enrolment,
    Assessment,
    Records,
    Notification,
    Gateway,
}

impl Component {
    /// Every component, in the order `lms up` lists them.
    pub const ALL: [Component; 6] = [
        Component::Pathway,
        Component::Enrolment,
        Component::Assessment,
        Component::Records,
        Component::Notification,
        Component::Gateway,
    ];

    /// Its name in logs, traces, service tokens and health output.
    pub fn name(self) -> &'static str {
        match self {
            Component::Pathway => pathway_service::NAME,
            Component::Enrolment => enrolment_service::NAME,
            Component::Assessment => assessment_service::NAME,
            Component::Records => records_service::NAME,
            Component::Notification => notification_service::NAME,
            Component::Gateway => gateway::NAME,
        }
    }

    /// Its configuration section (`[pathway]`), also its `lms serve` argument.
    pub fn section(self) -> &'static str {
        match self {
            Component::Pathway => "pathway",
            Component::Enrolment => "enrolment",
            Component::Assessment => "assessment",
            Component::Records => "records",
            Component::Notification => "notification",
            Component::Gateway => "gateway",
        }
    }

    /// The component a section names.
    pub fn from_section(section: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.section() == section)
    }

    /// Whether it keeps a database (the gateway keeps none).
    pub fn has_database(self) -> bool {
        self != Component::Gateway
    }

    /// Whether it speaks HTTP (the gateway) rather than gRPC.
    pub fn is_http(self) -> bool {
        self == Component::Gateway
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
