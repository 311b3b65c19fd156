//! cmi5 course packages (cmi5 14): what a ZIP file must be for the suite to keep and serve
//! it. The course structure is `cmi5.xml` at the package's root; every other file is content
//! the structure's relative launch URLs may name, served unchanged under the package's
//! address.

use chrono::NaiveDateTime;

/// The course structure's name, at the package's root (cmi5 14.1).
pub const COURSE_STRUCTURE: &str = "cmi5.xml";
/// A file's bytes are kept, and read, in parts of at most this size.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// The most files a package may hold.
pub const MAX_FILES: usize = 10_000;
/// The longest path a file may have.
const MAX_PATH_CHARS: usize = 1_024;

/// A package the suite keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPackage {
    pub id: String,
    pub pathway_id: String,
    /// Random, and what the package's address carries: whoever has it reads the files.
    pub access_key: String,
    pub file_count: i32,
    /// Unpacked.
    pub total_bytes: i64,
    pub imported_at: NaiveDateTime,
    pub imported_by: String,
}

impl ContentPackage {
    /// Where its files are served: `<public_url>/content/<access_key>/`.
    pub fn base_url(&self, public_url: &str) -> String {
        base_url(public_url, &self.access_key)
    }
}

/// `<public_url>/content/<access_key>/`, the address a package's relative URLs resolve
/// against.
pub fn base_url(public_url: &str, access_key: &str) -> String {
    format!("{}/content/{access_key}/", public_url.trim_end_matches('/'))
}

/// A new access key: 128 random bits, as 32 hex digits.
pub fn new_access_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A file's path inside the package, as an entry of the ZIP file names it: '/'-separated
/// parts, none empty, `.` or `..`, no leading '/', no '\\' (which some archivers write as a
/// separator) and no control character. The reason otherwise.
pub fn file_path(name: &str) -> Result<&str, &'static str> {
    if name.is_empty() || name.chars().count() > MAX_PATH_CHARS {
        return Err("has a path that is empty or longer than 1024 characters");
    }
    if name.starts_with('/') || name.contains('\\') || name.chars().any(char::is_control) {
        return Err("has a path that is absolute, uses '\\' or holds a control character");
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err("has a path with an empty, '.' or '..' part");
    }
    Ok(name)
}

/// The media type a browser is told a file has, by its extension: what content needs to run
/// (`text/html`, `text/javascript`, `image/png`, …), `application/octet-stream` when unknown.
pub fn content_type(path: &str) -> String {
    mime_guess::from_path(path)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_package() {
        assert_eq!(file_path("index.html"), Ok("index.html"));
        assert_eq!(file_path("media/a b.png"), Ok("media/a b.png"));
        for bad in [
            "",
            "/etc/passwd",
            "../up.html",
            "media/../../up.html",
            "media//x",
            "./x",
            "media\\x.png",
            "a\u{0}b",
        ] {
            assert!(file_path(bad).is_err(), "{bad:?}");
        }
        assert!(file_path(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn media_types_come_from_extensions() {
        assert_eq!(content_type("index.html"), "text/html");
        assert_eq!(content_type("media/logo.png"), "image/png");
        assert_eq!(content_type("a/script.js"), "text/javascript");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn a_package_is_served_under_its_key() {
        assert_eq!(
            base_url("https://lms.example.com/", "abc"),
            "https://lms.example.com/content/abc/"
        );
        let key = new_access_key();
        assert_eq!(key.len(), 32);
        assert_ne!(key, new_access_key());
    }
}
