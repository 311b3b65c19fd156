//! The components a test needs, started by the same [`Topology`] as `lms up`: each on an
//! ephemeral loopback port with its own throwaway database, calling the others and
//! delivering events to them as in production.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use lms_platform::config::Address;
use lms_platform::db::Db;
use lms_topology::{Component, Settings, Topology};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::{TestAuth, TestBackend, TestDatabase};

/// Where a component that a test did not start is "reached": a loopback port nothing listens
/// on (discard), so calls to it fail UNAVAILABLE and events for it wait in the outbox.
const NOT_RUNNING: &str = "http://127.0.0.1:9";

struct Started {
    address: SocketAddr,
    db: Option<Db>,
    channel: Channel,
    /// Its own stop switch and task, replaced when it is restarted.
    running: Mutex<(CancellationToken, Option<JoinHandle<anyhow::Result<()>>>)>,
}

/// Components serving for one test; they stop when it is dropped.
pub struct TestSuite {
    pub auth: TestAuth,
    pub topology: Topology,
    started: HashMap<Component, Started>,
    shutdown: CancellationToken,
    _databases: Vec<TestDatabase>,
}

impl Drop for TestSuite {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The settings tests start from: built-in defaults, the test secret, loopback port 0 for
/// every listener, no metrics, no periodic sweeps (tests run them when they mean to), and
/// no full-sync guard.
pub fn test_settings(auth: &TestAuth) -> Settings {
    let mut settings: Settings = lms_platform::config::from_defaults(&lms_topology::defaults())
        .expect("the built-in defaults load");
    settings.auth = auth.config();
    settings.telemetry.metrics_listen = None;
    settings.server.shutdown_grace = std::time::Duration::from_secs(5);
    settings.enrolment.own.audience_sweep = std::time::Duration::ZERO;
    settings.enrolment.own.max_deactivation_share = 1.0;
    settings.records.own.certification_scan = std::time::Duration::ZERO;
    settings.notification.own.reminder_scan = std::time::Duration::ZERO;
    // No mail unless a test asks for it (a folder of its own, or its SMTP server).
    settings.notification.own.email.transport =
        notification_service::clients::mail::Transport::None;
    for component in Component::ALL {
        settings.set_listen(component, SocketAddr::from(([127, 0, 0, 1], 0)));
        settings
            .topology
            .set(component, Address::parse(NOT_RUNNING).unwrap());
    }
    settings
}

impl TestSuite {
    /// Starts `components` on `backend` (None: PostgreSQL is not configured, outside CI).
    pub async fn start(backend: TestBackend, components: &[Component]) -> Option<TestSuite> {
        Self::start_with(backend, components, |_| {}).await
    }

    /// Like [`TestSuite::start`], with the settings changed by `configure` first.
    pub async fn start_with(
        backend: TestBackend,
        components: &[Component],
        configure: impl FnOnce(&mut Settings),
    ) -> Option<TestSuite> {
        let auth = TestAuth::default();
        let mut settings = test_settings(&auth);
        configure(&mut settings);
        let mut databases = Vec::new();
        for &component in components {
            if component.has_database() {
                let database = TestDatabase::migrated(backend, component).await?;
                settings.set_database(component, database.url.clone());
                databases.push(database);
            }
        }
        let verifier = auth.verifier().await;
        let mut topology = Topology::new(settings, verifier, true);
        let shutdown = CancellationToken::new();
        let listeners = topology.bind(components).await.expect("ephemeral ports");
        let mut started = HashMap::new();
        for (component, listener) in listeners {
            let db = topology
                .open_database(component)
                .await
                .expect("the test database opens");
            let entry = start_one(&topology, component, listener, db, &shutdown).await;
            started.insert(component, entry);
        }
        Some(TestSuite {
            auth,
            topology,
            started,
            shutdown,
            _databases: databases,
        })
    }

    fn get(&self, component: Component) -> &Started {
        self.started
            .get(&component)
            .unwrap_or_else(|| panic!("{component} was not started by this test"))
    }

    /// A connected channel to `component`.
    pub fn channel(&self, component: Component) -> Channel {
        self.get(component).channel.clone()
    }

    /// `http://127.0.0.1:<port>` of `component`.
    pub fn url(&self, component: Component) -> String {
        let address = self.get(component).address;
        if component.is_http() {
            format!("http://{address}")
        } else {
            Address::of_socket(address).to_string()
        }
    }

    pub fn address(&self, component: Component) -> SocketAddr {
        self.get(component).address
    }

    /// `component`'s database, for what a test checks beneath the API (its outbox).
    pub fn db(&self, component: Component) -> Db {
        self.get(component)
            .db
            .clone()
            .unwrap_or_else(|| panic!("{component} has no database"))
    }

    /// Starts `component`'s graceful shutdown (health turns NOT_SERVING) without waiting.
    pub fn shut_down(&self, component: Component) {
        self.get(component).running.lock().unwrap().0.cancel();
    }

    /// Stops `component` gracefully (as a deploy would) and waits until it has let go.
    pub async fn stop(&self, component: Component) {
        let task = {
            let mut running = self.get(component).running.lock().unwrap();
            running.0.cancel();
            running.1.take()
        };
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Starts a stopped `component` again, on the same address and database.
    pub async fn restart(&self, component: Component) {
        let entry = self.get(component);
        let listener = rebind(entry.address).await;
        let stop = self.shutdown.child_token();
        let task = spawn(&self.topology, component, listener, entry.db.clone(), &stop);
        *entry.running.lock().unwrap() = (stop, Some(task));
    }
}

fn spawn(
    topology: &Topology,
    component: Component,
    listener: TcpListener,
    db: Option<Db>,
    stop: &CancellationToken,
) -> JoinHandle<anyhow::Result<()>> {
    let task = topology
        .serve(component, listener, db, stop.clone())
        .unwrap_or_else(|error| panic!("starting {component}: {error:#}"));
    tokio::spawn(task)
}

async fn start_one(
    topology: &Topology,
    component: Component,
    listener: TcpListener,
    db: Option<Db>,
    shutdown: &CancellationToken,
) -> Started {
    let address = listener.local_addr().expect("a bound address");
    let stop = shutdown.child_token();
    let task = spawn(topology, component, listener, db.clone(), &stop);
    let endpoint = Channel::from_shared(format!("http://{address}")).expect("a valid URI");
    let channel = if component.is_http() {
        endpoint.connect_lazy()
    } else {
        endpoint
            .connect()
            .await
            .expect("the component accepts connections")
    };
    Started {
        address,
        db,
        channel,
        running: Mutex::new((stop, Some(task))),
    }
}

/// Binds `address` again; the port of a component that just stopped may take a moment to free.
async fn rebind(address: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(address).await {
            return listener;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{address} did not become free again")
}
