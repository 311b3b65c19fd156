//! A real OIDC provider process for the tests (panva/oidc-provider, `tests/oidc/provider.mjs`).
#![allow(dead_code)] // each test file uses part of it

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const OIDC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/oidc");
pub const SECRET: &str = "records-service-secret-of-some-length";

/// The provider process; killed when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the provider's packages are installed (`npm ci` in tests/oidc, which
/// `scripts/test.sh` runs); in CI they must be.
pub fn provider_installed() -> bool {
    let installed = std::path::Path::new(OIDC)
        .join("node_modules/oidc-provider")
        .exists();
    assert!(
        installed || std::env::var("CI").is_err(),
        "tests/oidc/node_modules is missing: run `npm ci --prefix tests/oidc`"
    );
    installed
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the provider on `port`, issuing tokens that live `ttl` seconds to the records-service
/// client, and waits until its discovery document answers.
pub async fn provider(port: u16, ttl: u64) -> Provider {
    let clients = serde_json::json!([
        {"client_id": "records-service", "client_secret": SECRET, "roles": ["service"]},
    ]);
    provider_with(port, ttl, clients).await
}

/// Starts the provider with these clients (see `tests/oidc/provider.mjs`).
pub async fn provider_with(port: u16, ttl: u64, clients: serde_json::Value) -> Provider {
    let child = Command::new("node")
        .arg(format!("{OIDC}/provider.mjs"))
        .arg(port.to_string())
        .arg(ttl.to_string())
        .arg(clients.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    // Owned at once, so a failed start is still killed and waited for.
    let provider = Provider {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        if reqwest::get(&discovery)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return provider;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the provider did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
