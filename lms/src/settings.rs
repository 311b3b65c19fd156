//! The suite's configuration: built-in defaults < `lms.toml` (or `--config`) < `LMS__...`
//! environment variables. Every key is documented in `docs/configuration.md`.

use std::path::{Path, PathBuf};

use lms_platform::config::{AuthConfig, ComponentConfig, ServerConfig, TelemetryConfig};
use serde::Deserialize;

/// The built-in defaults, also the reference for `docs/configuration.md`.
pub const DEFAULTS: &str = r#"
data_dir = "./lms-data"

[server]
shutdown_grace_seconds = 20
max_message_bytes = 4194304
request_timeout_seconds = 30

[auth]

[telemetry]
log_format = "pretty"
log_level = "info"
metrics_listen = "127.0.0.1:9464"

[pathway]
listen = "127.0.0.1:50051"
database_url = ""
db_pool_size = 8

[enrolment]
listen = "127.0.0.1:50052"
database_url = ""
db_pool_size = 8
max_deactivation_share = 0.2
audience_sweep_seconds = 3600
pathway_url = "http://127.0.0.1:50051"
events_url = ""

[assessment]
listen = "127.0.0.1:50053"
database_url = ""
db_pool_size = 8
enrolment_url = "http://127.0.0.1:50052"
events_url = ""

[records]
listen = "127.0.0.1:50054"
database_url = ""
db_pool_size = 8
pathway_url = "http://127.0.0.1:50051"
events_url = ""
enrolment_url = "http://127.0.0.1:50052"
certification_scan_seconds = 300

[gateway]
listen = "127.0.0.1:8080"
pathway_url = "http://127.0.0.1:50051"
enrolment_url = "http://127.0.0.1:50052"
assessment_url = "http://127.0.0.1:50053"
records_url = "http://127.0.0.1:50054"
cors_origins = []
requests_per_second = 50
burst = 100
max_body_bytes = 1048576
request_timeout_seconds = 30
max_in_flight = 1024
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where `lms up` keeps its SQLite files and development secret.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub telemetry: TelemetryConfig,
    pub pathway: ComponentConfig,
    pub enrolment: EnrolmentConfig,
    pub assessment: AssessmentConfig,
    pub records: RecordsConfig,
    pub gateway: GatewayConfig,
}

/// `[gateway]`: the HTTP edge for portal frontends and where the services are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The HTTP listen address (REST/JSON, /openapi.json, gRPC-Web).
    pub listen: String,
    pub pathway_url: String,
    pub enrolment_url: String,
    pub assessment_url: String,
    pub records_url: String,
    /// Browser origins allowed by CORS, exactly as the browser sends them.
    pub cors_origins: Vec<String>,
    /// Sustained requests per second per principal (tenant + subject), and the burst above it.
    pub requests_per_second: u32,
    pub burst: u32,
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    /// Requests in flight before new ones are shed with 503.
    pub max_in_flight: usize,
}

impl GatewayConfig {
    pub fn options(&self) -> gateway::Options {
        gateway::Options {
            services: gateway::ServiceUrls {
                pathway: self.pathway_url.clone(),
                enrolment: self.enrolment_url.clone(),
                assessment: self.assessment_url.clone(),
                records: self.records_url.clone(),
            },
            limits: gateway::Limits {
                requests_per_second: self.requests_per_second,
                burst: self.burst,
                max_body_bytes: self.max_body_bytes,
                request_timeout: std::time::Duration::from_secs(self.request_timeout_seconds),
                max_in_flight: self.max_in_flight,
            },
            cors_origins: self.cors_origins.clone(),
        }
    }
}

/// `[enrolment]`: the common component keys plus the HR sync's safety limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentConfig {
    pub listen: String,
    #[serde(default)]
    pub database_url: String,
    pub db_pool_size: u32,
    /// A full HR sync may deactivate at most this share (0..1) of the active directory unless
    /// the upload sets `force`.
    pub max_deactivation_share: f64,
    /// How often every dynamic audience is re-evaluated in full (0 disables the sweep).
    pub audience_sweep_seconds: u64,
    /// pathway-service's gRPC address, asked whether a pathway is published (`lms up` points it
    /// at its own pathway-service).
    pub pathway_url: String,
    /// records-service's gRPC address, where enrolment events are delivered; empty: they wait
    /// in the outbox.
    pub events_url: String,
}

/// `[assessment]`: the common component keys plus where enrolment-service is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentConfig {
    pub listen: String,
    #[serde(default)]
    pub database_url: String,
    pub db_pool_size: u32,
    /// enrolment-service's gRPC address, asked whether a learner may start an attempt (`lms up`
    /// points it at its own enrolment-service).
    pub enrolment_url: String,
    /// records-service's gRPC address, where assessment outcomes are delivered; empty: they
    /// wait in the outbox.
    pub events_url: String,
}

/// `[records]`: the common component keys plus where its peers are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    pub listen: String,
    #[serde(default)]
    pub database_url: String,
    pub db_pool_size: u32,
    /// pathway-service's gRPC address, asked for published versions while applying events.
    pub pathway_url: String,
    /// enrolment-service's gRPC address, where records' events (a learner started, a
    /// recertification window opened) are delivered; empty: they wait in the outbox.
    pub events_url: String,
    /// How often the certification scheduler looks for opened recertification windows; 0
    /// disables it.
    pub certification_scan_seconds: u64,
    /// enrolment-service's gRPC address, asked who is in an audience, class or department for
    /// scoped compliance reports.
    pub enrolment_url: String,
}

impl RecordsConfig {
    pub fn component(&self) -> ComponentConfig {
        ComponentConfig {
            listen: self.listen.clone(),
            database_url: self.database_url.clone(),
            db_pool_size: self.db_pool_size,
        }
    }
}

impl AssessmentConfig {
    pub fn component(&self) -> ComponentConfig {
        ComponentConfig {
            listen: self.listen.clone(),
            database_url: self.database_url.clone(),
            db_pool_size: self.db_pool_size,
        }
    }
}

impl EnrolmentConfig {
    pub fn component(&self) -> ComponentConfig {
        ComponentConfig {
            listen: self.listen.clone(),
            database_url: self.database_url.clone(),
            db_pool_size: self.db_pool_size,
        }
    }
}

impl Settings {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let settings: Settings = lms_platform::config::load(DEFAULTS, file)?;
        let share = settings.enrolment.max_deactivation_share;
        anyhow::ensure!(
            (0.0..=1.0).contains(&share),
            "invalid configuration: enrolment.max_deactivation_share = {share} must be between 0 and 1"
        );
        Ok(settings)
    }
}

/// The development signing secret `lms up` keeps in its data directory.
pub fn dev_secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join("dev-secret")
}

/// Reads the data directory's development secret, creating it on first use.
pub fn ensure_dev_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = dev_secret_path(data_dir);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = lms_platform::auth::generate_secret();
    write_private(&path, &secret)?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_load() {
        let settings: Settings = lms_platform::config::load(DEFAULTS, None).unwrap();
        assert_eq!(settings.pathway.listen, "127.0.0.1:50051");
        assert!(!settings.auth.is_configured());
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lms.toml");
        std::fs::write(&file, "[server]\nshutdown_grace_seconds = \"soon\"\n").unwrap();
        let error = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("shutdown_grace_seconds"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lms.toml");
        std::fs::write(&file, "[pathway]\nlisten_port = 1\n").unwrap();
        let error = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("listen_port"), "{error}");
    }

    #[test]
    fn the_dev_secret_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_dev_secret(dir.path()).unwrap();
        let second = ensure_dev_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= lms_platform::auth::MIN_SECRET_BYTES);
    }
}
