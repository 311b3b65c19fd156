//! The development signing secret `lms up` generates in its data directory.

use std::path::{Path, PathBuf};

/// The development signing secret `lms up` keeps in its data directory.
pub fn dev_secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join("dev-secret")
}

/// Reads the data directory's development secret, creating it on first use.
pub fn ensure_dev_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = dev_secret_path(data_dir);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = lms_platform::auth::generate_secret();
    write_private(&path, &secret)?;
    Ok(secret)
}

/// The key sealing the portal's session cookies under `lms up`, created on first use; its path.
pub fn ensure_web_session_key(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join("web-session-key");
    if !path.exists() {
        std::fs::create_dir_all(data_dir)?;
        write_private(&path, &lms_platform::auth::generate_secret())?;
    }
    Ok(path)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_secret_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_dev_secret(dir.path()).unwrap();
        let second = ensure_dev_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= lms_platform::auth::MIN_SECRET_BYTES);
    }
}
