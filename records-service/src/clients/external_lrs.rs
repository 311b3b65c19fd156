//! Another Learning Record Store, over xAPI's HTTP interface: the outbox destination that
//! forwards a tenant's statements to it (see `app::xapi_forwarding`). Redirects are not
//! followed and no proxy is used.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use lms_platform::egress::{Destinations, Guarded};
use lms_platform::outbox::{BoxFuture, Delivery, EventSink, Rejection};
use lms_proto::events_v1 as events_pb;
use lms_proto::xapi_v1::StatementStored;
use prost::{Message, Name};
use serde_json::Value;

/// A tenant's other store, as its setting says (None: not forwarding now).
pub struct Destination {
    pub endpoint: String,
    pub username: String,
    pub password: String,
}

/// Reads a tenant's destination when its statements are sent.
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<Result<Option<Destination>, String>> + Send + Sync>;

/// Where and as whom statements are sent.
pub struct Target<'a> {
    /// The store's xAPI base URL, ending in `/`.
    pub endpoint: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

/// What the other store made of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Stored (or held already): done.
    Stored,
    /// Refused for good (400, 409): sending it again would not change that.
    Refused(String),
    /// Not now (unreachable, 5xx, credentials refused, too many requests): try again later.
    NotNow(String),
}

/// How long a delivery waits for one tenant's store before leaving that tenant's statements
/// for later (the outbox offers them again with its backoff).
const TENANT_WAIT: Duration = Duration::from_secs(10);
/// A store that did not take statements is left alone this long — doubling each time, up to
/// [`MAX_REST`] — before it is tried again, so later deliveries do not wait on it meanwhile.
const FIRST_REST: Duration = Duration::from_secs(5);
const MAX_REST: Duration = Duration::from_secs(300);

/// The outbox destination: each tenant's events to that tenant's other store. Tenants are
/// sent to side by side, each waited for at most [`TENANT_WAIT`], and a store that failed is
/// rested: a store that hangs holds back only its own tenant's statements.
pub struct ExternalLrsSink {
    name: &'static str,
    lookup: Lookup,
    lrs: ExternalLrs,
    wait: Duration,
    resting: Arc<Mutex<HashMap<String, Rest>>>,
}

/// A tenant's store left alone until `until`; `length`, how long it was left alone last.
#[derive(Clone, Copy)]
struct Rest {
    until: Instant,
    length: Duration,
}

impl ExternalLrsSink {
    pub fn new(
        name: &'static str,
        lookup: Lookup,
        destinations: Arc<Destinations>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            name,
            lookup,
            lrs: ExternalLrs::new(destinations)?,
            wait: TENANT_WAIT,
            resting: Arc::default(),
        })
    }

    /// Waits at most `wait` for one tenant's store (tests shorten it).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// Whether the tenant's store is resting now.
fn is_resting(resting: &Mutex<HashMap<String, Rest>>, tenant: &str) -> bool {
    let resting = resting
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    resting
        .get(tenant)
        .is_some_and(|rest| rest.until > Instant::now())
}

/// Rests the tenant's store after a failure (longer each time), or ends its rest.
fn note_outcome(resting: &Mutex<HashMap<String, Rest>>, tenant: &str, failed: bool) {
    let mut resting = resting
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !failed {
        resting.remove(tenant);
        return;
    }
    let length = resting
        .get(tenant)
        .map_or(FIRST_REST, |rest| (rest.length * 2).min(MAX_REST));
    resting.insert(
        tenant.to_string(),
        Rest {
            until: Instant::now() + length,
            length,
        },
    );
}

/// A statement as the other store gets it: without what the sending store set for itself
/// (`stored`, `authority`: the receiving store sets its own).
fn outgoing(event: &events_pb::Event) -> Result<Value, String> {
    let payload = event.payload.as_ref().ok_or("no payload")?;
    let stored = StatementStored::decode(payload.value.as_slice()).map_err(|e| e.to_string())?;
    let mut statement: Value =
        serde_json::from_str(&stored.statement).map_err(|e| e.to_string())?;
    if let Some(object) = statement.as_object_mut() {
        object.remove("stored");
        object.remove("authority");
    }
    Ok(statement)
}

/// The header version a statement is sent with: its own major version's.
fn version_of(statement: &Value) -> &'static str {
    match statement["version"].as_str() {
        Some(v) if v.starts_with("2.") => "2.0.0",
        _ => "1.0.3",
    }
}

impl EventSink for ExternalLrsSink {
    fn destination(&self) -> &str {
        self.name
    }

    fn subscribed_types(&self) -> Option<Vec<String>> {
        Some(vec![StatementStored::type_url()])
    }

    fn deliver(&self, events: Vec<events_pb::Event>) -> BoxFuture<Result<Delivery, String>> {
        let (lookup, lrs) = (self.lookup.clone(), self.lrs.clone());
        let (wait, resting) = (self.wait, self.resting.clone());
        Box::pin(async move {
            // Per tenant, then per xAPI version, in the order they were stored.
            let mut by_tenant: BTreeMap<String, Vec<events_pb::Event>> = BTreeMap::new();
            for event in events {
                by_tenant
                    .entry(event.tenant_id.clone())
                    .or_default()
                    .push(event);
            }
            let sends = by_tenant.into_iter().map(|(tenant, events)| {
                let (lookup, lrs, resting) = (lookup.clone(), lrs.clone(), resting.clone());
                async move {
                    if is_resting(&resting, &tenant) {
                        // Left for later, unacknowledged: the outbox offers them again.
                        return Delivery::default();
                    }
                    // What was delivered before the wait ran out is kept: the next delivery
                    // goes on from there rather than starting over.
                    let delivered = Mutex::new(Delivery::default());
                    let sent =
                        tokio::time::timeout(wait, send_tenant(&lookup, &lrs, &tenant, events, &delivered));
                    let failure = match sent.await {
                        Ok(failure) => failure,
                        Err(_) => Some(format!("no answer within {} s", wait.as_secs_f64())),
                    };
                    let delivery = delivered.into_inner().unwrap_or_else(|p| p.into_inner());
                    if let Some(why) = &failure {
                        // Its statements stay unacknowledged (the outbox retries them with
                        // backoff) while other tenants' are sent.
                        tracing::warn!(%tenant, error = %why, "another LRS did not take statements; they will be retried");
                    }
                    note_outcome(&resting, &tenant, failure.is_some());
                    delivery
                }
            });
            let mut delivery = Delivery::default();
            for sent in futures::future::join_all(sends).await {
                delivery.acknowledged.extend(sent.acknowledged);
                delivery.rejected.extend(sent.rejected);
            }
            Ok(delivery)
        })
    }
}

/// One tenant's events to its store, each one delivered noted in `delivered` as it is; why
/// the rest was not (its store did not take them now, or its setting could not be read).
async fn send_tenant(
    lookup: &Lookup,
    lrs: &ExternalLrs,
    tenant: &str,
    events: Vec<events_pb::Event>,
    delivered: &Mutex<Delivery>,
) -> Option<String> {
    let note = |change: &dyn Fn(&mut Delivery)| {
        change(&mut delivered.lock().unwrap_or_else(|p| p.into_inner()));
    };
    let destination = match lookup(tenant.to_string()).await {
        Ok(Some(destination)) => destination,
        Ok(None) => {
            // Forwarding was turned off since: nothing is owed.
            let ids: Vec<String> = events.into_iter().map(|e| e.id).collect();
            note(&|d| d.acknowledged.extend(ids.iter().cloned()));
            return None;
        }
        Err(why) => return Some(format!("its forwarding setting could not be read: {why}")),
    };
    let target = Target {
        endpoint: &destination.endpoint,
        username: &destination.username,
        password: &destination.password,
    };
    let mut by_version: BTreeMap<&str, Vec<(String, Value)>> = BTreeMap::new();
    for event in events {
        match outgoing(&event) {
            Ok(statement) => by_version
                .entry(version_of(&statement))
                .or_default()
                .push((event.id, statement)),
            Err(why) => note(&|d| {
                d.rejected
                    .push(Rejection::new(event.id.clone(), why.clone()))
            }),
        }
    }
    for (version, batch) in by_version {
        if let Err(why) = lrs.send_batch(&target, version, batch, delivered).await {
            return Some(why);
        }
    }
    None
}

#[derive(Clone)]
pub struct ExternalLrs {
    client: reqwest::Client,
    /// Where it may connect: the endpoint is checked again before each request (an address
    /// in the URL), and every address a name resolves to when connecting.
    destinations: Arc<Destinations>,
}

impl ExternalLrs {
    pub fn new(destinations: Arc<Destinations>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("lms-records/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Guarded(destinations.clone())))
            .build()?;
        Ok(Self {
            client,
            destinations,
        })
    }

    /// Sends one batch; when the other store refuses it, each statement on its own, so that
    /// only the one it refuses becomes a dead letter.
    async fn send_batch(
        &self,
        target: &Target<'_>,
        version: &str,
        batch: Vec<(String, Value)>,
        delivered: &Mutex<Delivery>,
    ) -> Result<(), String> {
        let delivery = || delivered.lock().unwrap_or_else(|p| p.into_inner());
        let statements: Vec<Value> = batch.iter().map(|(_, s)| s.clone()).collect();
        match self.post(target, version, &statements).await {
            Answer::Stored => {
                delivery()
                    .acknowledged
                    .extend(batch.into_iter().map(|(id, _)| id));
                Ok(())
            }
            Answer::NotNow(why) => Err(format!("{}: {why}", target.endpoint)),
            Answer::Refused(_) => {
                for (id, statement) in batch {
                    match self.put(target, version, &statement).await {
                        Answer::Stored => delivery().acknowledged.push(id),
                        Answer::Refused(why) => delivery().rejected.push(Rejection::new(
                            id,
                            format!("the other store refused it: {why}"),
                        )),
                        Answer::NotNow(why) => {
                            return Err(format!("{}: {why}", target.endpoint));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// POSTs `statements` (one xAPI version) as a batch: all stored, or none.
    pub async fn post(&self, target: &Target<'_>, version: &str, statements: &[Value]) -> Answer {
        let body = Value::Array(statements.to_vec()).to_string();
        let url = format!("{}statements", target.endpoint);
        self.send(self.client.post(url), target, version, body)
            .await
    }

    /// PUTs one statement by its id (after a batch was refused, to find which one).
    pub async fn put(&self, target: &Target<'_>, version: &str, statement: &Value) -> Answer {
        let id = statement["id"].as_str().unwrap_or_default();
        let Ok(mut url) = url::Url::parse(&format!("{}statements", target.endpoint)) else {
            return Answer::NotNow(format!("{} is not a URL", target.endpoint));
        };
        url.query_pairs_mut().append_pair("statementId", id);
        self.send(self.client.put(url), target, version, statement.to_string())
            .await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        target: &Target<'_>,
        version: &str,
        body: String,
    ) -> Answer {
        // An address in the URL is not resolved, so the resolver never sees it: checked here
        // (the rules may have narrowed since the setting was saved).
        if let Err(why) = self.destinations.check_url(target.endpoint) {
            return Answer::NotNow(format!("the endpoint is not permitted: {why}"));
        }
        let mut request = request
            .header("content-type", "application/json")
            .header("x-experience-api-version", version)
            .body(body);
        if !target.username.is_empty() {
            let credentials = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", target.username, target.password));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Answer::NotNow(format!("not reachable: {error}")),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let said: String = text.chars().take(300).collect();
        match status.as_u16() {
            200..=299 => Answer::Stored,
            400 | 409 => Answer::Refused(format!("{status}: {said}")),
            _ => Answer::NotNow(format!("{status}: {said}")),
        }
    }
}
