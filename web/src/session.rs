//! The signed-in session and the sign-in in flight, kept in cookies the browser cannot read or
//! forge: serialised, then sealed with AES-256-GCM under a key derived from the configured
//! session key. Any gateway replica opens any cookie; nothing is stored server-side, so a
//! session ends when its cookie expires (at the latest when its token does) or is cleared at
//! sign-out.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The shortest session key accepted.
pub const SESSION_KEY_BYTES: usize = 32;

/// A signed-in person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Their access token for the suite: every API call the pages make carries it.
    pub token: String,
    pub subject: String,
    pub tenant: String,
    /// Their name as the identity provider gave it (the subject when it gave none).
    pub name: String,
    pub roles: Vec<String>,
    /// Whether anyone reported to them when they signed in (the portal shows "My team"; the
    /// team page itself always asks the directory as it stands).
    #[serde(default)]
    pub manager: bool,
    /// Unix seconds after which the session is over.
    pub expires: i64,
}

impl Session {
    pub fn is_current(&self) -> bool {
        self.expires > chrono::Utc::now().timestamp()
    }
}

/// A sign-in in flight, between leaving for the identity provider and coming back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The portal page to return to.
    pub return_to: String,
    pub expires: i64,
}

pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl Sealer {
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= SESSION_KEY_BYTES,
            "the session key must be at least {SESSION_KEY_BYTES} bytes"
        );
        // The configured secret may be any text: the AEAD key is its SHA-256 under a label
        // of its own, so the same secret used elsewhere yields an unrelated key.
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(b"lms-web session cookie v1\0");
        context.update(secret);
        let digest = context.finish();
        let key = UnboundKey::new(&AES_256_GCM, digest.as_ref())
            .map_err(|_| anyhow::anyhow!("cannot build the session cookie key"))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    /// `value` sealed: base64url of nonce ‖ ciphertext ‖ tag; `purpose` is bound in as
    /// associated data, so a sign-in cookie never opens as a session.
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .unwrap_or_else(|_| unreachable!("the system random source fails only at boot"));
        let mut data = serde_json::to_vec(value).unwrap_or_default();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.as_bytes()),
                &mut data,
            )
            .unwrap_or_else(|_| unreachable!("sealing fails only past 64 GiB"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The value `seal` sealed, or None for anything altered, truncated or sealed for
    /// another purpose or with another key.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, text: &str) -> Option<T> {
        let mut bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).ok()?;
        let plain = self
            .key
            .open_in_place(
                nonce,
                Aad::from(purpose.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// 32 random bytes, base64url: states, nonces, PKCE verifiers, CSRF tokens.
    pub fn random_token(&self) -> String {
        let mut bytes = [0u8; 32];
        self.random
            .fill(&mut bytes)
            .unwrap_or_else(|_| unreachable!("the system random source fails only at boot"));
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// The cookie names: with `Secure`, the `__Host-` prefix (no Domain, path /, https only), so
/// no sibling host can plant one.
pub struct CookieNames {
    pub session: &'static str,
    pub sign_in: &'static str,
    pub csrf: &'static str,
}

pub fn cookie_names(secure: bool) -> CookieNames {
    if secure {
        CookieNames {
            session: "__Host-lms_session",
            sign_in: "__Host-lms_signin",
            csrf: "__Host-lms_csrf",
        }
    } else {
        CookieNames {
            session: "lms_session",
            sign_in: "lms_signin",
            csrf: "lms_csrf",
        }
    }
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: HttpOnly always, Secure on https, `SameSite` as given; `max_age`
/// 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: i64, same_site: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_cookie_opens_only_unaltered_for_its_purpose() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("session", &"ada".to_string());
        assert_eq!(
            sealer.open::<String>("session", &sealed).as_deref(),
            Some("ada")
        );
        assert!(sealer.open::<String>("sign-in", &sealed).is_none());
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            sealer
                .open::<String>("session", std::str::from_utf8(&altered).unwrap())
                .is_none()
        );
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert!(other.open::<String>("session", &sealed).is_none());
        assert!(Sealer::new(&[7u8; 31]).is_err());
    }

    #[test]
    fn a_session_past_its_expiry_is_over() {
        let now = chrono::Utc::now().timestamp();
        let session = |expires| Session {
            token: "t".into(),
            subject: "ada".into(),
            tenant: "acme".into(),
            name: "Ada".into(),
            roles: vec!["learner".into()],
            manager: false,
            expires,
        };
        assert!(session(now + 60).is_current());
        assert!(!session(now).is_current());
        assert!(!session(now - 1).is_current());
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            "lms_session_x=1; lms_session=abc; other=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, "lms_session"), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }
}
