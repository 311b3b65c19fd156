//! The suite's components and how they connect — written once, here.
//!
//! `lms up` starts every component in one process, `lms serve X` one of them, and the tests
//! and benchmarks whichever they need; all of them build the suite through [`Topology`]. It
//! knows each component's database, which services each one calls, and where each one's
//! events go; adding a component means adding it to [`Component`] and to [`Topology::serve`].

mod component;
mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::Context as _;
use lms_platform::access::{Access, RemoteDirectory};
use lms_platform::auth::{ServiceCredentials, TokenVerifier};
use lms_platform::client::Peer;
use lms_platform::config::Address;
use lms_platform::db::{DatabaseUrl, Db};
use lms_platform::outbox::Subscriber;
use lms_platform::server::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use component::Component;
pub use settings::{Addresses, Settings, defaults};

/// A component serving until its shutdown.
pub type Task = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A component that is listening, and the task that serves it.
pub struct Running {
    pub component: Component,
    pub address: SocketAddr,
    /// Its database (None for the gateway).
    pub db: Option<Db>,
    pub task: Task,
}

/// The component's database URL and pool size: configured, or when `embedded` a SQLite file
/// in the data directory. None for the gateway.
pub fn database_url(
    settings: &Settings,
    component: Component,
    embedded: bool,
) -> anyhow::Result<Option<(DatabaseUrl, u32)>> {
    let Some((url, pool_size)) = settings.database(component) else {
        return Ok(None);
    };
    let section = component.section();
    let url = match url {
        Some(url) => url.clone(),
        None => {
            anyhow::ensure!(
                embedded,
                "invalid configuration: {section}.database_url is required (LMS__{}__DATABASE_URL)",
                section.to_uppercase()
            );
            DatabaseUrl::sqlite(&settings.data_dir.join(format!("{section}.db")))
        }
    };
    Ok(Some((url, pool_size)))
}

/// Opens the component's database and applies its migrations (None for the gateway): what
/// `lms migrate` does, and every component at its start unless `migrate_on_start` is false
/// (then it only checks that none is pending).
pub async fn open_database(
    settings: &Settings,
    component: Component,
    embedded: bool,
) -> anyhow::Result<Option<Db>> {
    let Some((url, pool_size)) = database_url(settings, component, embedded)? else {
        return Ok(None);
    };
    let migrate = settings.migrate_on_start;
    let db = match component {
        Component::Pathway => pathway_service::open_database(url, pool_size, migrate).await,
        Component::Enrolment => enrolment_service::open_database(url, pool_size, migrate).await,
        Component::Assessment => assessment_service::open_database(url, pool_size, migrate).await,
        Component::Records => records_service::open_database(url, pool_size, migrate).await,
        Component::Notification => {
            notification_service::open_database(url, pool_size, migrate).await
        }
        Component::Gateway => return Ok(None),
    };
    db.with_context(|| format!("opening the database of {component}"))
        .map(Some)
}

/// How a set of components is built from the settings.
pub struct Topology {
    pub settings: Settings,
    verifier: TokenVerifier,
    /// `lms up` and tests: a component without a database URL gets a SQLite file in the data
    /// directory, and the addresses bound here are where the others reach it.
    embedded: bool,
    /// Each calling component's own credentials, built once: with client credentials, one
    /// renewal task per component, whatever the number of services it calls.
    credentials: std::sync::Mutex<std::collections::HashMap<Component, ServiceCredentials>>,
}

impl Topology {
    pub fn new(settings: Settings, verifier: TokenVerifier, embedded: bool) -> Self {
        Self {
            settings,
            verifier,
            embedded,
            credentials: Default::default(),
        }
    }

    /// Binds each component's listen address. In embedded mode each bound address (port 0
    /// becomes a real one) is also where the other components reach it, so all listeners are
    /// bound before any component starts.
    pub async fn bind(
        &mut self,
        components: &[Component],
    ) -> anyhow::Result<Vec<(Component, TcpListener)>> {
        let mut listeners = Vec::with_capacity(components.len());
        for &component in components {
            let address = self.settings.listen(component);
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("binding {}.listen {address}", component.section()))?;
            let bound = listener.local_addr()?;
            self.settings.set_listen(component, bound);
            if self.embedded && !component.is_http() {
                self.settings
                    .topology
                    .set(component, Address::of_socket(bound));
            }
            listeners.push((component, listener));
        }
        Ok(listeners)
    }

    /// Opens the component's database and applies its migrations (None for the gateway).
    pub async fn open_database(&self, component: Component) -> anyhow::Result<Option<Db>> {
        open_database(&self.settings, component, self.embedded).await
    }

    /// `callee` as `caller` calls it: with `caller`'s own service identity.
    pub fn peer(&self, caller: Component, callee: Component) -> anyhow::Result<Peer> {
        let address = self.address(caller, callee)?;
        let credentials = self.credentials(caller)?;
        Peer::new(callee.name(), address, credentials, &self.settings.client)
            .with_context(|| format!("invalid configuration: topology.{}", callee.section()))
    }

    /// `caller`'s own service credentials (built on first use, then shared).
    fn credentials(&self, caller: Component) -> anyhow::Result<ServiceCredentials> {
        let mut built = self.credentials.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(credentials) = built.get(&caller) {
            return Ok(credentials.clone());
        }
        let credentials = ServiceCredentials::from_config(&self.settings.auth, caller.name())?;
        built.insert(caller, credentials.clone());
        Ok(credentials)
    }

    /// `callee` as the gateway calls it: with each caller's own token.
    fn forwarding_peer(&self, callee: Component) -> anyhow::Result<Peer> {
        let address = self.address(Component::Gateway, callee)?;
        Peer::forwarding(callee.name(), address, &self.settings.client)
            .with_context(|| format!("invalid configuration: topology.{}", callee.section()))
    }

    /// Where `producer`'s events are delivered: each consumer that is deployed (has a
    /// `[topology]` address), with the event types it reads; events for the others are not
    /// queued.
    pub fn event_consumers(
        &self,
        producer: Component,
        consumers: &[Component],
    ) -> anyhow::Result<Vec<Subscriber>> {
        let mut subscribers = Vec::new();
        for &consumer in consumers {
            if self.settings.topology.get(consumer).is_none() {
                tracing::info!(%producer, %consumer, "no address for an event consumer; it is not sent events");
                continue;
            }
            let types = match consumer {
                Component::Enrolment => enrolment_service::events::consumed(),
                Component::Records => records_service::events::consumed(),
                Component::Notification => notification_service::events::consumed(),
                // Their decision points: role bindings changed.
                Component::Pathway | Component::Assessment => lms_platform::access::consumed(),
                other => anyhow::bail!("{other} consumes no events"),
            };
            subscribers.push(Subscriber {
                consumer: self.peer(producer, consumer)?,
                types,
            });
        }
        Ok(subscribers)
    }

    fn address(&self, caller: Component, callee: Component) -> anyhow::Result<&Address> {
        self.settings.topology.get(callee).ok_or_else(|| {
            anyhow::anyhow!(
                "invalid configuration: topology.{} is required: {caller} calls {callee}",
                callee.section()
            )
        })
    }

    /// The task serving `component` on `listener` until `shutdown`: the one place where each
    /// component is given the peers it calls and the consumers of its events.
    pub fn serve(
        &self,
        component: Component,
        listener: TcpListener,
        db: Option<Db>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Task> {
        use Component::*;
        let context = Context {
            verifier: self.verifier.clone(),
            server: self.settings.server.clone(),
            shutdown,
        };
        let settings = &self.settings;
        let db = || db.clone().context("a service needs its database");
        Ok(match component {
            Pathway => Box::pin(pathway_service::serve(
                listener,
                db()?,
                context,
                pathway_settings(settings),
                self.pathway_peers()?,
            )),
            Enrolment => Box::pin(enrolment_service::serve(
                listener,
                db()?,
                context,
                settings.enrolment.clone(),
                self.enrolment_peers()?,
            )),
            Assessment => Box::pin(assessment_service::serve(
                listener,
                db()?,
                context,
                self.assessment_peers()?,
            )),
            Records => Box::pin(records_service::serve(
                listener,
                db()?,
                context,
                records_settings(settings),
                self.records_peers()?,
            )),
            Notification => Box::pin(notification_service::serve(
                listener,
                db()?,
                context,
                self.notification_settings(),
                self.notification_peers()?,
            )),
            Gateway => {
                // Built now, so bad configuration fails the start rather than the first request.
                let app = gateway::router(
                    self.verifier.clone(),
                    &settings.gateway,
                    &self.gateway_peers()?,
                )
                .map_err(|e| anyhow::anyhow!("invalid configuration: gateway: {e}"))?;
                let app = self
                    .with_portal(app)
                    .map_err(|e| anyhow::anyhow!("invalid configuration: web: {e:#}"))?;
                Box::pin(gateway::serve_app(listener, app, context.shutdown))
            }
        })
    }

    /// The gateway's API with the Learning Portal's pages in front of it. Its session key is
    /// `web.session_key_file`'s; embedded (tests), a random one when none is configured. The
    /// development sign-in needs the development secret tokens are signed with.
    fn with_portal(&self, api: axum::Router) -> anyhow::Result<axum::Router> {
        let web = &self.settings.web;
        let session_key = if !web.session_key_file.is_empty() {
            lms_web::read_session_key(&web.session_key_file)?
        } else if self.embedded {
            lms_platform::auth::generate_secret().into_bytes()
        } else if web.enabled && !web.oidc_issuer.is_empty() {
            anyhow::bail!("web.session_key_file is required to serve the portal");
        } else {
            // No sign-in configured: the portal is not served (`lms_web::router` says so).
            vec![0; lms_web::SESSION_KEY_BYTES]
        };
        let dev = (web.dev_sign_in && !self.settings.auth.hs256_secret.is_empty()).then(|| {
            lms_web::DevSignIn {
                hs256_secret: self.settings.auth.hs256_secret.clone(),
            }
        });
        lms_web::router(
            web,
            self.settings.gateway.listen,
            session_key,
            self.verifier.clone(),
            dev,
            api,
        )
    }

    /// Who pathway-service calls.
    pub fn pathway_peers(&self) -> anyhow::Result<pathway_service::Peers> {
        use Component::*;
        // A deployment without assessment-service still serves pathways; linking an
        // assessment step then says why it cannot.
        let assessment = match self.settings.topology.get(Assessment) {
            Some(_) => Some(self.peer(Pathway, Assessment)?),
            None => None,
        };
        Ok(pathway_service::Peers {
            assessment,
            access: self.remote_access(Pathway)?,
        })
    }

    /// The decision point of `caller`: the directory's role bindings and groups, asked over
    /// gRPC and kept `auth.bindings_cache_seconds`.
    fn remote_access(&self, caller: Component) -> anyhow::Result<Access> {
        let directory = RemoteDirectory::new(self.peer(caller, Component::Enrolment)?);
        Ok(Access::new(
            std::sync::Arc::new(directory),
            self.settings.auth.bindings_cache,
        ))
    }

    /// Who enrolment-service calls, and where its events go.
    pub fn enrolment_peers(&self) -> anyhow::Result<enrolment_service::Peers> {
        use Component::*;
        Ok(enrolment_service::Peers {
            pathway: self.peer(Enrolment, Pathway)?,
            event_consumers: self
                .event_consumers(Enrolment, &[Records, Notification, Pathway, Assessment])?,
            bindings_cache: self.settings.auth.bindings_cache,
        })
    }

    /// Who assessment-service calls, and where its events go.
    pub fn assessment_peers(&self) -> anyhow::Result<assessment_service::Peers> {
        use Component::*;
        Ok(assessment_service::Peers {
            pathway: self.peer(Assessment, Pathway)?,
            enrolment: self.peer(Assessment, Enrolment)?,
            records: self.peer(Assessment, Records)?,
            event_consumers: self.event_consumers(Assessment, &[Records, Notification])?,
            access: self.remote_access(Assessment)?,
        })
    }

    /// Who records-service calls, and where its events go.
    pub fn records_peers(&self) -> anyhow::Result<records_service::Peers> {
        use Component::*;
        Ok(records_service::Peers {
            pathway: self.peer(Records, Pathway)?,
            enrolment: self.peer(Records, Enrolment)?,
            event_consumers: self.event_consumers(Records, &[Enrolment, Notification])?,
            access: self.remote_access(Records)?,
        })
    }

    /// notification-service's settings, its mail folder under the data directory unless
    /// configured.
    fn notification_settings(&self) -> notification_service::Settings {
        let mut settings = self.settings.notification.clone();
        let email = &mut settings.own.email;
        if email.folder.as_os_str().is_empty() {
            email.folder = self.settings.data_dir.join("mail");
        }
        settings
    }

    /// Who notification-service calls.
    pub fn notification_peers(&self) -> anyhow::Result<notification_service::Peers> {
        use Component::*;
        Ok(notification_service::Peers {
            enrolment: self.peer(Notification, Enrolment)?,
            pathway: self.peer(Notification, Pathway)?,
        })
    }

    /// The services behind the gateway, called with each caller's own token.
    pub fn gateway_peers(&self) -> anyhow::Result<gateway::Peers> {
        use Component::*;
        Ok(gateway::Peers {
            pathway: self.forwarding_peer(Pathway)?,
            enrolment: self.forwarding_peer(Enrolment)?,
            assessment: self.forwarding_peer(Assessment)?,
            records: self.forwarding_peer(Records)?,
            notification: match self.settings.topology.get(Notification) {
                Some(_) => Some(self.forwarding_peer(Notification)?),
                None => None,
            },
        })
    }

    /// Binds, opens and starts `components` (each stops on `shutdown`).
    pub async fn start(
        &mut self,
        components: &[Component],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Vec<Running>> {
        let listeners = self.bind(components).await?;
        let mut running = Vec::with_capacity(listeners.len());
        for (component, listener) in listeners {
            let address = listener.local_addr()?;
            let db = self.open_database(component).await?;
            let task = self
                .serve(component, listener, db.clone(), shutdown.clone())
                .with_context(|| format!("starting {component}"))?;
            running.push(Running {
                component,
                address,
                db,
                task,
            });
        }
        Ok(running)
    }
}

/// records-service's settings with `public_url` filled in when not set (see [`public_url`]).
fn records_settings(settings: &Settings) -> records_service::Settings {
    let mut records = settings.records.clone();
    records.own.public_url = public_url(settings, &records.own.public_url);
    records
}

/// pathway-service's settings with `public_url` filled in when not set (see [`public_url`]).
fn pathway_settings(settings: &Settings) -> pathway_service::Settings {
    let mut pathway = settings.pathway.clone();
    pathway.own.public_url = public_url(settings, &pathway.own.public_url);
    pathway
}

/// Where browsers reach the gateway: `given` when set, else the portal's public address
/// (`web.public_url`), else the gateway's own (`http://<gateway.listen>`, as bound).
fn public_url(settings: &Settings, given: &str) -> String {
    match (given.trim(), settings.web.public_url.trim()) {
        ("", "") => format!("http://{}", settings.gateway.listen),
        ("", portal) => portal.to_string(),
        (given, _) => given.to_string(),
    }
}
