//! Calls any RPC of the suite by name with a proto3 JSON request, through the descriptor set
//! (shared by the integration tests that span every service).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gateway::transcode::DynamicCodec;
use lms_platform::Role;
use lms_platform::testing::{TestAuth, TestBackend, TestDatabase};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Channels to the services, by component name (`pathway-service`, ...).
pub struct Rpcs {
    pub pool: DescriptorPool,
    pub channels: HashMap<String, Channel>,
}

#[allow(dead_code)]
impl Rpcs {
    pub fn new(channels: HashMap<String, Channel>) -> Rpcs {
        Rpcs {
            pool: DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET).unwrap(),
            channels,
        }
    }

    pub fn method(&self, rpc: &str) -> MethodDescriptor {
        let (service, method) = rpc.split_once('/').unwrap();
        self.pool
            .get_service_by_name(service)
            .unwrap_or_else(|| panic!("no service {service}"))
            .methods()
            .find(|m| m.name() == method)
            .unwrap_or_else(|| panic!("no method {rpc}"))
    }

    /// The components that serve `service` (the event consumer runs in two).
    pub fn components_of(service: &str) -> &'static [&'static str] {
        match service.split('.').nth(1) {
            Some("pathway") => &["pathway-service"],
            Some("enrolment") => &["enrolment-service"],
            Some("assessment") => &["assessment-service"],
            Some("records") => &["records-service"],
            Some("events") => &["enrolment-service", "records-service"],
            _ => &[],
        }
    }

    /// Calls `rpc` on `component` with the proto3 JSON `request`; a stream is read to its end
    /// and answered as an array of its messages.
    pub async fn call(
        &self,
        component: &str,
        rpc: &str,
        request: Value,
        token: Option<&str>,
    ) -> Result<Value, Status> {
        let method = self.method(rpc);
        let message = DynamicMessage::deserialize(method.input(), request.clone())
            .unwrap_or_else(|e| panic!("{rpc}: {request} is not its request: {e}"));
        let mut request = tonic::Request::new(message);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let mut grpc = tonic::client::Grpc::new(self.channels[component].clone());
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::try_from(format!("/{rpc}")).unwrap();
        let codec = DynamicCodec {
            output: method.output(),
        };
        if method.is_server_streaming() {
            let mut stream = grpc
                .server_streaming(request, path, codec)
                .await?
                .into_inner();
            let mut items = Vec::new();
            while let Some(item) = stream.message().await? {
                items.push(serde_json::to_value(&item).unwrap());
            }
            Ok(Value::Array(items))
        } else {
            let response = grpc.unary(request, path, codec).await?;
            Ok(serde_json::to_value(response.get_ref()).unwrap())
        }
    }

    /// Calls `rpc` where it is served (the first component serving it).
    pub async fn rpc(
        &self,
        rpc: &str,
        request: Value,
        token: Option<&str>,
    ) -> Result<Value, Status> {
        let service = rpc.split('/').next().unwrap();
        self.call(Self::components_of(service)[0], rpc, request, token)
            .await
    }

    /// Like [`Lms::rpc`], but the call must succeed.
    pub async fn ok(&self, rpc: &str, request: Value, token: &str) -> Value {
        self.rpc(rpc, request.clone(), Some(token))
            .await
            .unwrap_or_else(|status| panic!("{rpc} {request}: {status:?}"))
    }

    /// Retries `rpc` until `ready` holds of its answer (events travel asynchronously).
    pub async fn eventually(
        &self,
        rpc: &str,
        request: Value,
        token: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        self.eventually_within(Duration::from_secs(30), rpc, request, token, ready)
            .await
    }

    /// [`Rpcs::eventually`] with a limit of its own.
    pub async fn eventually_within(
        &self,
        limit: Duration,
        rpc: &str,
        request: Value,
        token: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let answer = self.rpc(rpc, request.clone(), Some(token)).await;
            if let Ok(value) = &answer
                && ready(value)
            {
                return value.clone();
            }
            assert!(
                started.elapsed() < limit,
                "{rpc} {request} never became ready: {answer:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

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

const COMPONENTS: [(&str, &str); 4] = [
    ("PATHWAY", "pathway-service"),
    ("ENROLMENT", "enrolment-service"),
    ("ASSESSMENT", "assessment-service"),
    ("RECORDS", "records-service"),
];

#[allow(dead_code)]
impl Lms {
    /// `lms up` on ephemeral ports: embedded SQLite, or each component on its own throwaway
    /// PostgreSQL database.
    pub async fn start(backend: TestBackend) -> Option<Lms> {
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
