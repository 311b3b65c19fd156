//! Digests in lowercase hex, as the record keeps and compares them (secret hashes, statement
//! fingerprints, attachment SHA-2s, document ETags).

use aws_lc_rs::digest::{Algorithm, digest};

pub fn hex_digest(algorithm: &'static Algorithm, bytes: &[u8]) -> String {
    hex(digest(algorithm, bytes).as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
