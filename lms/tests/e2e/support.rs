//! `lms up` in a child process, as the end-to-end tests drive it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use lms_platform::Role;
pub use lms_test_support::Rpcs;
use lms_test_support::{TestAuth, TestBackend, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;

/// `lms up` in a child process, with channels to its services and its gateway address.
pub struct Lms {
    child: Child,
    _data: tempfile::TempDir,
    _databases: Vec<TestDatabase>,
    pub rpcs: Rpcs,
    pub gateway: String,
    pub auth: TestAuth,
    pub http: reqwest::Client,
}

impl std::ops::Deref for Lms {
    type Target = Rpcs;
    fn deref(&self) -> &Rpcs {
        &self.rpcs
    }
}

impl Drop for Lms {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const COMPONENTS: [(&str, &str); 5] = [
    ("PATHWAY", "pathway-service"),
    ("ENROLMENT", "enrolment-service"),
    ("ASSESSMENT", "assessment-service"),
    ("RECORDS", "records-service"),
    ("NOTIFICATION", "notification-service"),
];

#[allow(dead_code)]
impl Lms {
    /// `lms up` on ephemeral ports: embedded SQLite, or each component on its own throwaway
    /// PostgreSQL database.
    pub async fn start(backend: TestBackend) -> Option<Lms> {
        Self::start_with(backend, &[]).await
    }

    /// [`Lms::start`] with more settings (`LMS__…` variables) for `lms up`.
    pub async fn start_with(backend: TestBackend, settings: &[(&str, &str)]) -> Option<Lms> {
        let auth = TestAuth::default();
        let data = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_lms"));
        for (key, _) in std::env::vars() {
            if key.starts_with("LMS__") {
                command.env_remove(key);
            }
        }
        let mut databases = Vec::new();
        if backend == TestBackend::Postgres {
            for (section, _) in COMPONENTS {
                let database = TestDatabase::create(backend)?;
                command.env(
                    format!("LMS__{section}__DATABASE_URL"),
                    database.url.to_config_string(),
                );
                databases.push(database);
            }
        }
        for (section, _) in COMPONENTS {
            command.env(format!("LMS__{section}__LISTEN"), "127.0.0.1:0");
        }
        for (key, value) in settings {
            command.env(key, value);
        }
        let mut child = command
            .args(["up", "--data-dir"])
            .arg(data.path())
            .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
            .env("LMS__GATEWAY__REQUESTS_PER_SECOND", "10000")
            .env("LMS__GATEWAY__BURST", "10000")
            .env("LMS__AUTH__HS256_SECRET", auth.config().hs256_secret)
            .env("LMS__TELEMETRY__METRICS_LISTEN", "")
            .env("LMS__TELEMETRY__LOG_LEVEL", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lms starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addresses = HashMap::new();
        while !addresses.contains_key("gateway") {
            let line = lines.next().expect("lms up prints its addresses").unwrap();
            let name = line.split_whitespace().next().unwrap_or_default();
            for scheme in ["grpc://", "http://"] {
                if let Some(at) = line.find(scheme) {
                    addresses.insert(name.to_string(), line[at..].trim().to_string());
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let mut channels = HashMap::new();
        for (_, component) in COMPONENTS {
            let url = addresses[component].replace("grpc://", "http://");
            let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
            channels.insert(component.to_string(), channel);
        }
        Some(Lms {
            child,
            _data: data,
            _databases: databases,
            rpcs: Rpcs::new(channels),
            gateway: addresses["gateway"].clone(),
            auth,
            http: reqwest::Client::new(),
        })
    }

    pub fn token(&self, tenant: &str, role: Role) -> String {
        let subject = match role {
            Role::Learner => format!("learner@{tenant}"),
            other => format!("{}@{tenant}", other.as_str()),
        };
        self.auth.token(tenant, &subject, &[role])
    }

    /// A portal RPC through the gateway: its HTTP status as a gRPC code.
    pub async fn portal(&self, path: &str, token: Option<&str>) -> (Code, Value) {
        let mut request = self.http.get(format!("{}{path}", self.gateway));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = match status {
            200 => Code::Ok,
            400 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            _ => Code::Unknown,
        };
        (code, body)
    }
}

/// One REST call through the gateway with `token`: the status and the JSON answer (null when
/// the body is not JSON).
pub async fn call(
    lms: &Lms,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = lms
        .http
        .request(method, format!("{}{path}", lms.gateway))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}
