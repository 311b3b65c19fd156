//! The one way a component calls another service (DESIGN §3).
//!
//! A [`Peer`] is another service as this component sees it: a channel that balances over every
//! address its name resolves to ([`balance`]), the credentials its calls carry, and the client
//! settings. Each call
//! - carries this component's service token and the tenant it acts for (or, at the gateway,
//!   the caller's own token),
//! - passes on the time left of the call being served ([`crate::deadline`]), capped by
//!   `client.timeout_seconds`, and gives up locally when that time is up,
//! - carries the current trace context (`traceparent`),
//! - is retried on UNAVAILABLE only when it is a read ([`Peer::read`]) and time is left,
//! - turns the peer's status into an [`AppError`] that keeps its meaning ([`status`]).

mod balance;
mod status;

use crate::ids::TenantId;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

pub use balance::{Endpoints, balanced_channel};
pub use status::from_status;

use crate::auth::ServiceCredentials;
use crate::config::{Address, seconds};
use crate::error::{AppError, AppResult};

/// `[client]`: how this component calls the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The longest one call to another service may take, even when the call being served
    /// allows longer; a shorter deadline of the caller is passed on as it is.
    #[serde(rename = "timeout_seconds", deserialize_with = "seconds")]
    pub timeout: Duration,
    /// How long to wait for a connection to one address.
    #[serde(rename = "connect_timeout_seconds", deserialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// How often a service's name is resolved again, so replicas that come and go are seen.
    #[serde(rename = "resolve_interval_seconds", deserialize_with = "seconds")]
    pub resolve_interval: Duration,
    /// How many times a read that found the peer UNAVAILABLE is tried again (writes never).
    pub read_retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            resolve_interval: Duration::from_secs(30),
            read_retries: 2,
        }
    }
}

/// Whose token a peer's calls carry.
#[derive(Clone)]
enum Credentials {
    /// This component's own identity, acting for the tenant whose request caused the call.
    Service(ServiceCredentials),
    /// The caller's own token, passed on unchanged (the gateway calling for a portal user).
    Caller,
}

/// Another service, as this component calls it.
#[derive(Clone)]
pub struct Peer {
    name: &'static str,
    channel: Channel,
    endpoints: Endpoints,
    credentials: Credentials,
    config: ClientConfig,
}

/// Call-site metadata a forwarded call copies from the call being served.
const FORWARDED: [&str; 4] = ["authorization", "x-request-id", "traceparent", "tracestate"];

impl Peer {
    /// `name` (e.g. `enrolment-service`) reached at `address` with this component's own
    /// identity. Connects lazily: the peer may start later.
    pub fn new(
        name: &'static str,
        address: &Address,
        credentials: ServiceCredentials,
        config: &ClientConfig,
    ) -> anyhow::Result<Self> {
        let (channel, endpoints) = balanced_channel(address, config)?;
        Ok(Self {
            name,
            channel,
            endpoints,
            credentials: Credentials::Service(credentials),
            config: config.clone(),
        })
    }

    /// `name` at `address`, called with the caller's own token ([`Peer::read_as_caller`]).
    pub fn forwarding(
        name: &'static str,
        address: &Address,
        config: &ClientConfig,
    ) -> anyhow::Result<Self> {
        let (channel, endpoints) = balanced_channel(address, config)?;
        Ok(Self {
            name,
            channel,
            endpoints,
            credentials: Credentials::Caller,
            config: config.clone(),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The same peer with another cap on each call (`client.timeout_seconds` otherwise), for
    /// calls known to take longer, such as applying a delivery of events.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The balanced channel, for generic callers (the gateway's transcoding).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A read for `tenant`: safe to repeat, so it is tried again when the peer is UNAVAILABLE.
    ///
    /// ```ignore
    /// let pathway = peer
    ///     .read(tenant, pb::GetPathwayRequest { id }, |channel, request| async move {
    ///         PathwayServiceClient::new(channel).get_pathway(request).await
    ///     })
    ///     .await?;
    /// ```
    pub async fn read<M, R, F, Fut>(&self, tenant: &TenantId, message: M, call: F) -> AppResult<R>
    where
        M: Clone,
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let attempts = 1 + self.config.read_retries;
        self.invoke(
            attempts,
            &message,
            |message| self.request(tenant, message),
            &call,
        )
        .await
    }

    /// A call for `tenant` that is not safe to repeat blindly: sent once.
    pub async fn send<M, R, F, Fut>(&self, tenant: &TenantId, message: M, call: F) -> AppResult<R>
    where
        M: Clone,
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        self.invoke(1, &message, |message| self.request(tenant, message), &call)
            .await
    }

    /// A read made with the credentials of the call being served (`incoming`'s bearer token
    /// and request id), for a component that acts as its caller (the gateway's portal).
    pub async fn read_as_caller<M, R, F, Fut>(
        &self,
        incoming: &MetadataMap,
        message: M,
        call: F,
    ) -> AppResult<R>
    where
        M: Clone,
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let attempts = 1 + self.config.read_retries;
        let forwarded = |message| {
            let mut request = Request::new(message);
            for name in FORWARDED {
                if let Some(value) = incoming.get(name) {
                    request.metadata_mut().insert(name, value.clone());
                }
            }
            Ok(request)
        };
        self.invoke(attempts, &message, forwarded, &call).await
    }

    /// A request carrying this component's identity for `tenant`.
    fn request<M>(&self, tenant: &TenantId, message: M) -> AppResult<Request<M>> {
        let mut request = Request::new(message);
        match &self.credentials {
            Credentials::Service(credentials) => credentials.authorize(&mut request, tenant)?,
            Credentials::Caller => {
                return Err(AppError::internal(anyhow::anyhow!(
                    "{} is called with the caller's token only",
                    self.name
                )));
            }
        }
        Ok(request)
    }

    async fn invoke<M, R, F, Fut>(
        &self,
        attempts: u32,
        message: &M,
        build: impl Fn(M) -> AppResult<Request<M>>,
        call: &F,
    ) -> AppResult<R>
    where
        M: Clone,
        F: Fn(Channel, Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let deadline = self.deadline();
        let forwarded = matches!(self.credentials, Credentials::Caller);
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, self.endpoints.looked_up())
            .await
            .is_err()
        {
            return Err(self.deadline_exceeded());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            if self.endpoints.count() == 0 {
                return Err(AppError::Unavailable(format!(
                    "{} cannot be reached: its address resolves to nothing; retry",
                    self.name
                )));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.deadline_exceeded());
            }
            let mut request = build(message.clone())?;
            request.set_timeout(left);
            let traceparent = crate::telemetry::current_traceparent();
            if !traceparent.is_empty()
                && let Ok(value) = MetadataValue::try_from(traceparent.as_str())
            {
                request.metadata_mut().insert("traceparent", value);
            }
            let answer = tokio::time::timeout(left, call(self.channel.clone(), request)).await;
            let status = match answer {
                Err(_elapsed) => return Err(self.deadline_exceeded()),
                Ok(Ok(response)) => return Ok(response.into_inner()),
                // tonic answers a call whose deadline passed on the server with CANCELLED
                // "Timeout expired": to this caller that is its deadline, exceeded.
                Ok(Err(status)) if timed_out_on_the_server(&status) => {
                    return Err(self.deadline_exceeded());
                }
                Ok(Err(status)) => status,
            };
            let backoff = retry_backoff(attempt);
            let retry = status.code() == tonic::Code::Unavailable
                && attempt < attempts
                && deadline.saturating_duration_since(Instant::now()) > backoff;
            if !retry {
                return Err(from_status(self.name, status, forwarded));
            }
            tracing::debug!(
                peer = self.name,
                attempt,
                message = status.message(),
                "peer unavailable; trying again"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    /// When this call must be answered: the served call's deadline, or now + the client
    /// timeout, whichever comes first.
    fn deadline(&self) -> Instant {
        let cap = Instant::now() + self.config.timeout;
        crate::deadline::current().map_or(cap, |deadline| deadline.min(cap))
    }

    fn deadline_exceeded(&self) -> AppError {
        AppError::DeadlineExceeded(format!("{} did not answer before the deadline", self.name))
    }
}

fn timed_out_on_the_server(status: &Status) -> bool {
    status.code() == tonic::Code::Cancelled && status.message() == "Timeout expired"
}

/// 25 ms, 50 ms, 100 ms, ... with up to a quarter of jitter, so retries of many callers spread.
fn retry_backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let base = Duration::from_millis(25) * 2u32.saturating_pow(attempt.saturating_sub(1).min(6));
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 4);
    base + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backoff_doubles_with_bounded_jitter() {
        for attempt in 1..5 {
            let base = 25 * 2u64.pow(attempt - 1);
            let wait = retry_backoff(attempt).as_millis() as u64;
            assert!(
                (base..=base + base / 4).contains(&wait),
                "{attempt}: {wait}"
            );
        }
    }
}
