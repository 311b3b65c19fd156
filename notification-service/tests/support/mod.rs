//! What notification-service's test files share: the real helper servers they run (an SMTP
//! relay, a webhook receiver, both Python programs under tests/), and the service's use cases
//! on a suite's database, for moving the clock.

#![allow(dead_code)] // each test file uses part of it

use std::path::Path;
use std::process::{Child, Command, Stdio};

use lms_test_support::TestSuite;
use lms_topology::Component;
use notification_service::app::NotificationApp;

/// A Python program under tests/ that listens on the port it is given and prints `ready`;
/// stopped when dropped.
pub struct PythonServer {
    child: Child,
    pub port: u16,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PythonServer {
    /// Runs `tests/<script> PORT <args>`. None when the Python `modules` it needs are not
    /// installed outside CI (`python3 -m pip install -r tests/requirements.txt`); in CI their
    /// absence fails the test.
    pub fn start(script: &str, modules: &str, args: &[&std::ffi::OsStr]) -> Option<PythonServer> {
        let installed = Command::new("python3")
            .args(["-c", &format!("import {modules}")])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "{modules} missing: python3 -m pip install -r tests/requirements.txt"
            );
            eprintln!("skipped: {modules} not installed");
            return None;
        }
        let port = lms_test_support::port_for_a_child("127.0.0.1");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests")
            .join(script);
        let mut child = Command::new("python3")
            .arg(path)
            .arg(port.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "{script} did not start");
        Some(PythonServer { child, port })
    }
}

/// notification-service's use cases on the suite's database and settings.
pub fn app(suite: &TestSuite) -> NotificationApp {
    let topology = &suite.topology;
    notification_service::app(
        suite.db(Component::Notification),
        &topology.settings.notification,
        &topology.notification_peers().unwrap(),
    )
    .unwrap()
}
