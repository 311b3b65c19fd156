//! Calls any RPC of the suite by name with a proto3 JSON request, through the descriptor set
//! (the tests that span every service: authorization and isolation matrices, faults).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gateway::transcode::DynamicCodec;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use serde_json::Value;
use tonic::Status;
use tonic::transport::Channel;

/// Channels to the services, by component name (`pathway-service`, ...).
pub struct Rpcs {
    pub pool: DescriptorPool,
    pub channels: HashMap<String, Channel>,
    /// Every call made, in order: each is sent with an `x-request-id` of its own, so a test
    /// can find what a call left behind (its audit entry).
    log: Mutex<Vec<Logged>>,
}

/// One call made through [`Rpcs`].
#[derive(Debug, Clone)]
pub struct Logged {
    pub rpc: String,
    /// The request, as proto3 JSON.
    pub request: Value,
    pub request_id: String,
    pub succeeded: bool,
}

impl Rpcs {
    pub fn new(channels: HashMap<String, Channel>) -> Rpcs {
        Rpcs {
            pool: DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET).unwrap(),
            channels,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The calls made so far, in order.
    pub fn logged(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
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

    /// The components that serve `service` (the event consumer runs in two, dead letters in
    /// every service with an outbox).
    pub fn components_of(service: &str) -> &'static [&'static str] {
        if service == "lms.events.v1.DeadLetters" {
            return &["enrolment-service", "assessment-service", "records-service"];
        }
        match service.split('.').nth(1) {
            Some("pathway") => &["pathway-service"],
            Some("enrolment") => &["enrolment-service"],
            Some("assessment") => &["assessment-service"],
            Some("records") | Some("xapi") => &["records-service"],
            Some("notification") => &["notification-service"],
            Some("events") => &[
                "pathway-service",
                "enrolment-service",
                "assessment-service",
                "records-service",
                "notification-service",
            ],
            Some("audit") | Some("privacy") => &[
                "pathway-service",
                "enrolment-service",
                "assessment-service",
                "records-service",
                "notification-service",
            ],
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
        let sent = request.clone();
        let message = DynamicMessage::deserialize(method.input(), request.clone())
            .unwrap_or_else(|e| panic!("{rpc}: {request} is not its request: {e}"));
        let mut request = tonic::Request::new(message);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let request_id = uuid::Uuid::now_v7().to_string();
        request
            .metadata_mut()
            .insert("x-request-id", request_id.parse().unwrap());
        let answer = self.send(component, &method, request).await;
        self.log.lock().unwrap().push(Logged {
            rpc: rpc.to_string(),
            request: sent,
            request_id,
            succeeded: answer.is_ok(),
        });
        answer
    }

    async fn send(
        &self,
        component: &str,
        method: &MethodDescriptor,
        request: tonic::Request<DynamicMessage>,
    ) -> Result<Value, Status> {
        let rpc = format!("{}/{}", method.parent_service().full_name(), method.name());
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
