//! POSTing webhook deliveries. The connection goes only to addresses the destination rules
//! permit: names are resolved here and every address is checked (a name that resolves to a
//! private address, or is rebound to one after the webhook was saved, is refused), redirects
//! are not followed and no proxy is used.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lms_platform::egress::{Destinations, Guarded};

/// One delivery to send.
pub struct Outgoing<'a> {
    pub url: &'a str,
    /// The `webhook-id`: the event's id, the same on every attempt.
    pub id: &'a str,
    pub timestamp: i64,
    /// `v1,<sig>` per secret, space-separated.
    pub signature: &'a str,
    pub body: &'a str,
}

/// What the receiver did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status; 0 when there was none (refused, timed out, closed, not permitted).
    pub status: u16,
    pub latency: Duration,
    /// Why it failed, in words; empty on 2xx.
    pub error: String,
}

impl Answer {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Clone)]
pub struct WebhookHttp {
    client: reqwest::Client,
    destinations: Arc<Destinations>,
}

impl WebhookHttp {
    pub fn new(destinations: Destinations, timeout: Duration) -> anyhow::Result<Self> {
        let destinations = Arc::new(destinations);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(64)
            .user_agent(concat!("lms-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Guarded(destinations.clone())))
            .build()?;
        Ok(Self {
            client,
            destinations,
        })
    }

    pub fn destinations(&self) -> &Destinations {
        &self.destinations
    }

    /// Sends one delivery; never fails, the answer says what happened.
    pub async fn post(&self, out: Outgoing<'_>) -> Answer {
        let started = Instant::now();
        let answer = |status: u16, error: String| Answer {
            status,
            latency: started.elapsed(),
            error,
        };
        // A URL naming an address (no resolution) is checked here; one naming a host, by the
        // resolver.
        if let Err(why) = self.destinations.check_url(out.url) {
            return answer(0, format!("the URL is not permitted: {why}"));
        }
        let sent = self
            .client
            .post(out.url)
            .header(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )
            .header("webhook-id", out.id)
            .header("webhook-timestamp", out.timestamp.to_string())
            .header("webhook-signature", out.signature)
            .body(out.body.to_string())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                // Read (and drop) the body so the connection can be reused.
                let _ = response.bytes().await;
                if status.is_success() {
                    answer(status.as_u16(), String::new())
                } else {
                    answer(status.as_u16(), format!("the receiver answered {status}"))
                }
            }
            Err(error) => answer(0, describe(&error)),
        }
    }
}

/// A transport error in words (reqwest's own chain names the cause).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let mut text = what.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
