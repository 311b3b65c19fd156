//! A name in `/etc/hosts` for the length of a test: the system resolver reads the file on
//! every lookup, as it reads a headless Service's records from cluster DNS, so a test can give
//! one name several replicas and change them while it runs.

/// `<random>.lms.test` → the addresses last set; removed when dropped.
pub struct HostsEntry {
    pub name: String,
}

impl HostsEntry {
    /// A new name for `ips`; None when `/etc/hosts` cannot be written (not root), which fails
    /// the test under `CI=true` instead.
    pub fn add(ips: &[&str]) -> Option<HostsEntry> {
        let name = format!("replicas-{}.lms.test", uuid::Uuid::new_v4().simple());
        let entry = HostsEntry { name };
        entry.set(ips).then_some(entry)
    }

    /// Points the name at `ips` (none: the name is gone).
    pub fn set(&self, ips: &[&str]) -> bool {
        let current = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let suffix = format!(" {}", self.name);
        let mut lines: Vec<String> = current
            .lines()
            .filter(|line| !line.ends_with(&suffix))
            .map(str::to_string)
            .collect();
        lines.extend(ips.iter().map(|ip| format!("{ip} {}", self.name)));
        match std::fs::write("/etc/hosts", lines.join("\n") + "\n") {
            Ok(()) => true,
            Err(error) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "CI must be able to add a name to /etc/hosts: {error}"
                );
                eprintln!("skipped: /etc/hosts is not writable ({error})");
                false
            }
        }
    }
}

impl Drop for HostsEntry {
    fn drop(&mut self) {
        self.set(&[]);
    }
}
