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

/// How far from its end a ZIP file's end-of-central-directory record may start: its 22 bytes
/// and a comment of at most 65 535.
pub const EOCD_SEARCH: u64 = 22 + 65_535;

/// What a ZIP file's end says of its directory, read before the directory itself.
#[derive(Debug, PartialEq, Eq)]
pub enum DeclaredEntries {
    /// The Zip32 record's count.
    Counted(u64),
    /// A Zip64 file: its record, at this offset, holds the count ([`zip64_entries`]).
    Zip64At(u64),
}

/// The entry count the end-of-central-directory record in `tail` (a file's last bytes, up to
/// [`EOCD_SEARCH`]) declares; None when there is none (not a ZIP file: the ZIP reader says
/// why).
pub fn declared_entries(tail: &[u8]) -> Option<DeclaredEntries> {
    let at = tail.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let record = tail.get(at..at + 22)?;
    let entries = u16::from_le_bytes([record[10], record[11]]);
    if entries != u16::MAX {
        return Some(DeclaredEntries::Counted(u64::from(entries)));
    }
    // Zip64: a locator right before the record gives the Zip64 record's offset.
    let locator = tail.get(at.checked_sub(20)?..at)?;
    if &locator[..4] != b"PK\x06\x07" {
        return Some(DeclaredEntries::Counted(u64::from(entries)));
    }
    let offset = u64::from_le_bytes(locator[8..16].try_into().ok()?);
    Some(DeclaredEntries::Zip64At(offset))
}

/// The entry count of a Zip64 end-of-central-directory record (its first 56 bytes).
pub fn zip64_entries(record: &[u8]) -> Option<u64> {
    if record.get(..4)? != b"PK\x06\x06" {
        return None;
    }
    Some(u64::from_le_bytes(record.get(32..40)?.try_into().ok()?))
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
    fn a_zip_files_end_declares_its_entries() {
        let mut zip32 = vec![0u8; 10];
        zip32.extend_from_slice(b"PK\x05\x06\0\0\0\0\x03\0\x03\0");
        zip32.extend_from_slice(&[0u8; 10]);
        assert_eq!(declared_entries(&zip32), Some(DeclaredEntries::Counted(3)));
        let mut zip64 = b"PK\x06\x07\0\0\0\0".to_vec();
        zip64.extend_from_slice(&1234u64.to_le_bytes());
        zip64.extend_from_slice(&[1, 0, 0, 0]);
        zip64.extend_from_slice(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff");
        zip64.extend_from_slice(&[0u8; 10]);
        assert_eq!(
            declared_entries(&zip64),
            Some(DeclaredEntries::Zip64At(1234))
        );
        let mut record = b"PK\x06\x06".to_vec();
        record.extend_from_slice(&[0u8; 28]);
        record.extend_from_slice(&7_000_000u64.to_le_bytes());
        record.extend_from_slice(&[0u8; 16]);
        assert_eq!(zip64_entries(&record), Some(7_000_000));
        assert_eq!(declared_entries(b"not a zip file at all"), None);
        assert_eq!(declared_entries(b"PK\x05\x06 cut"), None);
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
