//! A channel that balances over every address a service's name resolves to.
//!
//! In Kubernetes a headless Service's name resolves to one address per ready pod. A plain
//! channel would open one HTTP/2 connection to the first address and send every call over it,
//! so replicas added later would get nothing from this client. Instead the name is resolved
//! now and every `client.resolve_interval_seconds`, each address becomes an endpoint of
//! tonic's balanced channel (power of two choices over the least loaded), and addresses that
//! disappear are removed. A name that resolves to nothing keeps its last known addresses.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::Sender;
use tokio::sync::watch;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

use super::ClientConfig;
use crate::config::Address;

/// Requests queued for the balancer before callers wait.
const BUFFER: usize = 1024;

/// How many addresses a balanced channel currently has, and whether its name was looked up
/// yet.
#[derive(Clone, Debug)]
pub struct Endpoints {
    count: Arc<AtomicUsize>,
    looked_up: watch::Receiver<bool>,
}

impl Endpoints {
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Waits until the name was looked up once (at once for an IP address).
    pub async fn looked_up(&self) {
        let mut looked_up = self.looked_up.clone();
        let _ = looked_up.wait_for(|done| *done).await;
    }
}

/// A channel to every address of `address`'s host, kept current in the background (needs a
/// tokio runtime). Connections are opened when first used.
pub fn balanced_channel(
    address: &Address,
    config: &ClientConfig,
) -> anyhow::Result<(Channel, Endpoints)> {
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(BUFFER);
    let (looked_up, looked_up_receiver) = watch::channel(false);
    let endpoints = Endpoints {
        count: Arc::new(AtomicUsize::new(0)),
        looked_up: looked_up_receiver,
    };
    let resolver = Resolver {
        address: address.clone(),
        config: config.clone(),
        changes,
        count: endpoints.count.clone(),
        looked_up,
        current: HashSet::new(),
    };
    // An address given as an IP needs no resolving: it is inserted once, right now, so the
    // first call does not wait for the background task.
    if let Some(ip) = address.ip() {
        let socket = SocketAddr::new(ip, address.port());
        resolver
            .changes
            .try_send(Change::Insert(socket, resolver.endpoint(socket)?))
            .map_err(|_| anyhow::anyhow!("the balancer of {address} is not accepting addresses"))?;
        resolver.count.store(1, Ordering::Relaxed);
        resolver.looked_up.send_replace(true);
        return Ok((channel, endpoints));
    }
    resolver.endpoint(SocketAddr::from(([127, 0, 0, 1], address.port())))?;
    tokio::spawn(resolver.run());
    Ok((channel, endpoints))
}

struct Resolver {
    address: Address,
    config: ClientConfig,
    changes: Sender<Change<SocketAddr, Endpoint>>,
    count: Arc<AtomicUsize>,
    looked_up: watch::Sender<bool>,
    current: HashSet<SocketAddr>,
}

impl Resolver {
    /// Resolves until the channel is dropped.
    async fn run(mut self) {
        let mut every =
            tokio::time::interval(self.config.resolve_interval.max(Duration::from_millis(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.changes.closed() => return,
                _ = every.tick() => {}
            }
            let host = self.address.host().to_string();
            match tokio::net::lookup_host((host.as_str(), self.address.port())).await {
                Ok(found) => {
                    let found: HashSet<SocketAddr> = found.collect();
                    if found.is_empty() {
                        tracing::warn!(address = %self.address, "resolved to no address; keeping the last ones");
                    } else if self.apply(found).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(address = %self.address, %error, "cannot resolve; keeping the last addresses")
                }
            }
            self.looked_up.send_replace(true);
        }
    }

    /// Inserts new addresses and removes vanished ones. Err when the channel is gone.
    async fn apply(&mut self, found: HashSet<SocketAddr>) -> Result<(), ()> {
        for gone in self.current.difference(&found) {
            tracing::info!(address = %self.address, endpoint = %gone, "address removed");
            self.changes
                .send(Change::Remove(*gone))
                .await
                .map_err(|_| ())?;
        }
        for new in found.difference(&self.current) {
            let Ok(endpoint) = self.endpoint(*new) else {
                continue;
            };
            tracing::info!(address = %self.address, endpoint = %new, "address added");
            self.changes
                .send(Change::Insert(*new, endpoint))
                .await
                .map_err(|_| ())?;
        }
        self.current = found;
        self.count.store(self.current.len(), Ordering::Relaxed);
        Ok(())
    }

    /// The endpoint of one address; requests keep the service's name as their authority.
    fn endpoint(&self, socket: SocketAddr) -> anyhow::Result<Endpoint> {
        let endpoint = Endpoint::from_shared(format!("{}://{socket}", self.address.scheme()))?
            .origin(self.address.origin()?)
            .connect_timeout(self.config.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        Ok(endpoint)
    }
}
