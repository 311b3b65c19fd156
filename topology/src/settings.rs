//! The suite's configuration: built-in defaults < `lms.toml` (or `--config`) < `LMS__...`
//! environment variables. Every key is documented in `docs/configuration.md`.
//!
//! The sections shared by every component are the platform's; each service owns its own
//! section (its keys, types and defaults live in its crate); `[topology]` says where each
//! service is reached.

use std::path::PathBuf;

use lms_platform::client::ClientConfig;
use lms_platform::config::{Address, AuthConfig, ServerConfig, TelemetryConfig, optional_address};
use lms_platform::db::DatabaseUrl;
use serde::Deserialize;

use crate::Component;

/// The defaults of the shared sections; each service adds its own ([`defaults`]).
const SHARED_DEFAULTS: &str = r#"
data_dir = "./lms-data"
migrate_on_start = true

[server]
shutdown_grace_seconds = 20
max_message_bytes = 4194304
request_timeout_seconds = 30

[auth]

[telemetry]
log_format = "pretty"
log_level = "info"
metrics_listen = "127.0.0.1:9464"

[client]
timeout_seconds = 10
connect_timeout_seconds = 3
resolve_interval_seconds = 30
read_retries = 2

[topology]
pathway = "http://127.0.0.1:50051"
enrolment = "http://127.0.0.1:50052"
assessment = "http://127.0.0.1:50053"
records = "http://127.0.0.1:50054"
notification = "http://127.0.0.1:50055"
"#;

/// Every built-in default, also the reference for `docs/configuration.md`.
pub fn defaults() -> String {
    [
        SHARED_DEFAULTS,
        pathway_service::DEFAULTS,
        enrolment_service::DEFAULTS,
        assessment_service::DEFAULTS,
        records_service::DEFAULTS,
        notification_service::DEFAULTS,
        gateway::DEFAULTS,
        lms_web::DEFAULTS,
    ]
    .concat()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where `lms up` keeps its SQLite files and development secret.
    pub data_dir: PathBuf,
    /// Each component applies its pending migrations when it starts. False: it only checks
    /// that none is pending (run `lms migrate` first, e.g. as a Helm hook), so the services
    /// can use a database role without DDL rights.
    pub migrate_on_start: bool,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub client: ClientConfig,
    pub topology: Addresses,
    pub pathway: pathway_service::Settings,
    pub enrolment: enrolment_service::Settings,
    pub assessment: assessment_service::Settings,
    pub records: records_service::Settings,
    pub notification: notification_service::Settings,
    pub gateway: gateway::Settings,
    /// The Learning Portal the gateway serves at `/`.
    pub web: lms_web::Settings,
}

/// `[topology]`: where each service is reached by the components that call it or deliver
/// events to it. In Kubernetes, a headless Service per component (its name resolves to every
/// ready pod, and callers balance over them); empty: the component is not deployed (events
/// for it wait in their outboxes). `lms up` replaces these with the addresses it binds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Addresses {
    #[serde(deserialize_with = "optional_address")]
    pub pathway: Option<Address>,
    #[serde(deserialize_with = "optional_address")]
    pub enrolment: Option<Address>,
    #[serde(deserialize_with = "optional_address")]
    pub assessment: Option<Address>,
    #[serde(deserialize_with = "optional_address")]
    pub records: Option<Address>,
    #[serde(deserialize_with = "optional_address")]
    pub notification: Option<Address>,
}

impl Addresses {
    pub fn get(&self, component: Component) -> Option<&Address> {
        match component {
            Component::Pathway => self.pathway.as_ref(),
            Component::Enrolment => self.enrolment.as_ref(),
            Component::Assessment => self.assessment.as_ref(),
            Component::Records => self.records.as_ref(),
            Component::Notification => self.notification.as_ref(),
            Component::Gateway => None,
        }
    }

    pub fn set(&mut self, component: Component, address: Address) {
        match component {
            Component::Pathway => self.pathway = Some(address),
            Component::Enrolment => self.enrolment = Some(address),
            Component::Assessment => self.assessment = Some(address),
            Component::Records => self.records = Some(address),
            Component::Notification => self.notification = Some(address),
            Component::Gateway => {}
        }
    }
}

impl Settings {
    /// Defaults < `file` (or `./lms.toml` when present) < environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        lms_platform::config::load(&defaults(), file)
    }

    /// Where `component` listens.
    pub fn listen(&self, component: Component) -> std::net::SocketAddr {
        match component {
            Component::Pathway => self.pathway.listen,
            Component::Enrolment => self.enrolment.listen,
            Component::Assessment => self.assessment.listen,
            Component::Records => self.records.listen,
            Component::Notification => self.notification.listen,
            Component::Gateway => self.gateway.listen,
        }
    }

    pub fn set_listen(&mut self, component: Component, address: std::net::SocketAddr) {
        match component {
            Component::Pathway => self.pathway.listen = address,
            Component::Enrolment => self.enrolment.listen = address,
            Component::Assessment => self.assessment.listen = address,
            Component::Records => self.records.listen = address,
            Component::Notification => self.notification.listen = address,
            Component::Gateway => self.gateway.listen = address,
        }
    }

    /// The configured database of `component` and its pool size (None for the gateway).
    pub fn database(&self, component: Component) -> Option<(Option<&DatabaseUrl>, u32)> {
        let (url, pool) = match component {
            Component::Pathway => (&self.pathway.database_url, self.pathway.db_pool_size),
            Component::Enrolment => (&self.enrolment.database_url, self.enrolment.db_pool_size),
            Component::Assessment => (&self.assessment.database_url, self.assessment.db_pool_size),
            Component::Records => (&self.records.database_url, self.records.db_pool_size),
            Component::Notification => (
                &self.notification.database_url,
                self.notification.db_pool_size,
            ),
            Component::Gateway => return None,
        };
        Some((url.as_ref(), pool))
    }

    pub fn set_database(&mut self, component: Component, url: DatabaseUrl) {
        let url = Some(url);
        match component {
            Component::Pathway => self.pathway.database_url = url,
            Component::Enrolment => self.enrolment.database_url = url,
            Component::Assessment => self.assessment.database_url = url,
            Component::Records => self.records.database_url = url,
            Component::Notification => self.notification.database_url = url,
            Component::Gateway => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_load() {
        let settings: Settings = lms_platform::config::load(&defaults(), None).unwrap();
        assert_eq!(settings.pathway.listen.port(), 50051);
        assert_eq!(
            settings.topology.enrolment.unwrap().to_string(),
            "http://127.0.0.1:50052"
        );
        assert!(!settings.auth.is_configured());
    }

    fn load(toml: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lms.toml");
        std::fs::write(&file, toml).unwrap();
        Settings::load(Some(&file)).unwrap_err().to_string()
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error = load("[server]\nshutdown_grace_seconds = \"soon\"\n");
        assert!(error.contains("shutdown_grace_seconds"), "{error}");
        let error = load("[enrolment]\nmax_deactivation_share = 3.0\n");
        assert!(error.contains("max_deactivation_share"), "{error}");
        let error = load("[records]\nlisten = \"nowhere\"\n");
        assert!(error.contains("listen"), "{error}");
        let error = load("[topology]\npathway = \"ftp://x\"\n");
        assert!(error.contains("pathway"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let error = load("[pathway]\nlisten_port = 1\n");
        assert!(error.contains("listen_port"), "{error}");
        let error = load("[enrolment]\npathway_url = \"http://x:1\"\n");
        assert!(error.contains("pathway_url"), "{error}");
    }
}
