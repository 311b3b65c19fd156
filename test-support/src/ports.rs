//! Ports for processes a test starts on an address chosen in advance (a service it will kill and
//! start again on the same port, a proxy in front of the database).

use std::sync::atomic::{AtomicU16, Ordering};

/// How many ports each test process draws from.
const STRETCH: u16 = 120;

/// A free port on `ip` for a child process to bind later. Asking the kernel for port 0 and
/// passing the number on races: until the child binds it, the kernel may hand the same port to
/// any other listener bound to port 0 (another test's server, an `lms up`), and the test then
/// talks to the wrong server. These ports come from below the kernel's ephemeral range
/// (32768–60999 on Linux), which port-0 listeners never get; each test process draws from its
/// own stretch of 120 (by process id), in turn, and each port is checked free.
pub fn port_for_a_child(ip: &str) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 100) as u16 * STRETCH;
    for _ in 0..STRETCH * 4 {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % STRETCH;
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {base}..{}", base + STRETCH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_not_repeated() {
        let ports: Vec<u16> = (0..20).map(|_| port_for_a_child("127.0.0.1")).collect();
        assert!(
            ports.iter().all(|p| (20_000..32_000).contains(p)),
            "{ports:?}"
        );
        let mut unique = ports.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }
}
