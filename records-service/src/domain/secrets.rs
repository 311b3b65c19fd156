//! Bearer secrets the suite hands out (calendar feed addresses, LRS client passwords): long
//! and random, and kept only as their SHA-256 (a secret of 256 random bits needs no slow hash:
//! there is nothing to guess).

use base64::Engine;
use rand::Rng;

/// A new secret: 32 random bytes, base64url without padding (43 characters).
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a secret: its SHA-256, in hex.
pub fn secret_hash(secret: &str) -> String {
    super::digests::hex_digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
}

/// Whether `secret` hashes to `hash`, compared in constant time.
pub fn matches(secret: &str, hash: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(
        secret_hash(secret).as_bytes(),
        hash.as_bytes(),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_stored_hashed() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let hash = secret_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, secret_hash(&b));
        assert!(matches(&a, &hash) && !matches(&b, &hash));
        // SHA-256 of "abc" (FIPS 180-2's example).
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
