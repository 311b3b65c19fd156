//! Webhook rules: which destinations may be called, which event types may be subscribed to, how
//! deliveries are signed (Standard Webhooks) and when a failed one is tried again.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ipnet::IpNet;
use rand::Rng;
use url::{Host, Url};

/// Where webhooks may point: public addresses, and the networks the operator allowed.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// Whether `http://` URLs are accepted (tests; never for production receivers).
    pub allow_http: bool,
    /// Private, loopback or link-local networks the operator allowed, e.g. `127.0.0.0/8`.
    pub allowed_networks: Vec<IpNet>,
}

impl Destinations {
    /// Reads the configured networks; Err names the one that is not a CIDR block.
    pub fn new(allow_http: bool, networks: &[String]) -> Result<Self, String> {
        let allowed_networks = networks
            .iter()
            .map(|text| {
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{text:?} is not a network such as 10.0.0.0/8"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow_http,
            allowed_networks,
        })
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed_networks.iter().any(|net| net.contains(&ip))
    }

    /// Checks a webhook URL as given by an admin; Err says what is wrong in words.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        if text.len() > 2_000 {
            return Err("at most 2000 characters".into());
        }
        let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err("must be https:// (plain http is not allowed here)".into()),
            other => return Err(format!("must be https://, not {other}://")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials; the signature authenticates the suite".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a #fragment".into());
        }
        let ip = match url.host() {
            None => return Err("must name a host".into()),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                (name == "localhost" || name.ends_with(".localhost"))
                    .then_some(IpAddr::from([127, 0, 0, 1]))
            }
        };
        if let Some(ip) = ip
            && !self.permits(ip)
        {
            return Err(format!(
                "names {ip}, a private, loopback or reserved address the operator has not allowed \
                 (notification.webhooks.allowed_networks)"
            ));
        }
        Ok(url)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local (which holds
/// the cloud metadata services), shared (CGNAT), documentation, benchmarking, multicast or
/// reserved.
fn is_public(ip: IpAddr) -> bool {
    const V4_BLOCKED: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    ];
    const V6_BLOCKED: &[&str] = &[
        "::/127",
        "64:ff9b::/96",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ];
    let blocked = match ip {
        IpAddr::V4(_) => V4_BLOCKED,
        IpAddr::V6(_) => V6_BLOCKED,
    };
    !blocked.iter().any(|net| {
        net.parse::<IpNet>()
            .expect("the blocked ranges are valid")
            .contains(&ip)
    })
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks libraries
/// read it.
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::rng().random();
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `webhook-signature` value for one secret: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the secret's key.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    use aws_lc_rs::hmac;
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the stored secret is not base64".to_string())?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

/// After the n-th failed attempt (1-based), how long until the next: the Standard Webhooks
/// schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.5 hours),
/// each up to 25 % later at random so that a receiver coming back is not hit by every retry at
/// once (later, never earlier: the schedule always spans more than a day). None: that was the
/// last attempt.
pub fn retry_after(attempts_made: i32) -> Option<Duration> {
    const SCHEDULE: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
    let base = *SCHEDULE.get(usize::try_from(attempts_made - 1).ok()?)?;
    let jitter = rand::rng().random_range(1.0..1.25);
    Some(Duration::from_secs_f64(base as f64 * jitter))
}

/// The most attempts a delivery gets.
pub const MAX_ATTEMPTS: i32 = 8;

/// Reads the event types of a subscription: each a published type, or `*` alone. Err names the
/// index of the first wrong one.
pub fn check_event_types(types: &[String], published: &[String]) -> Result<(), (usize, String)> {
    if types.is_empty() {
        return Err((0, "name at least one event type, or *".into()));
    }
    if types.len() > 100 {
        return Err((100, "at most 100 event types".into()));
    }
    for (i, name) in types.iter().enumerate() {
        if name == "*" {
            if types.len() > 1 {
                return Err((i, "* means every type and stands alone".into()));
            }
        } else if !published.iter().any(|p| p == name) {
            return Err((
                i,
                format!("unknown event type; one of: {}", published.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Whether a subscription to `types` receives `event_type`.
pub fn subscribed(types: &[String], event_type: &str) -> bool {
    types.iter().any(|t| t == "*" || t == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Destinations {
        Destinations::new(false, &[]).unwrap()
    }

    #[test]
    fn private_loopback_and_metadata_addresses_are_refused_unless_allowed() {
        for url in [
            "https://127.0.0.1/hook",
            "https://localhost:8443/hook",
            "https://10.1.2.3/",
            "https://172.20.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[fd00::1]/",
            "https://0.0.0.0/",
        ] {
            let error = strict().check_url(url).unwrap_err();
            assert!(error.contains("operator has not allowed"), "{url}: {error}");
        }
        let loopback = Destinations::new(true, &["127.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(loopback.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(loopback.check_url("http://[::1]:9000/hook").is_ok());
        assert!(loopback.check_url("http://10.0.0.1/").is_err());
    }

    #[test]
    fn only_https_urls_without_credentials() {
        assert!(strict().check_url("https://hr.example.com/lms").is_ok());
        assert!(strict().check_url("https://93.184.215.14/lms").is_ok());
        for (url, why) in [
            ("http://hr.example.com/", "https"),
            ("ftp://hr.example.com/", "https"),
            ("https://user:pw@hr.example.com/", "credentials"),
            ("https://hr.example.com/#x", "fragment"),
            ("not a url", "not a URL"),
        ] {
            let error = strict().check_url(url).unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
        }
        assert!(Destinations::new(false, &["ten".into()]).is_err());
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's test vector.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signed = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with("whsec_"));
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn retries_last_more_than_a_day_with_jitter() {
        let total: f64 = (1..MAX_ATTEMPTS)
            .map(|n| retry_after(n).unwrap().as_secs_f64())
            .sum();
        // 27.6 hours at least: more than the day the retries must span.
        assert!(total >= 99_305.0, "{total}");
        assert_eq!(retry_after(MAX_ATTEMPTS), None);
        let first: Vec<_> = (0..20).map(|_| retry_after(1).unwrap()).collect();
        assert!(
            first
                .iter()
                .all(|d| (5.0..=6.25).contains(&d.as_secs_f64()))
        );
        assert!(first.iter().any(|d| *d != first[0]), "jittered");
    }

    #[test]
    fn event_types_are_published_ones_or_a_lone_star() {
        let published = vec!["lms.a.v1.X".to_string(), "lms.a.v1.Y".to_string()];
        assert!(check_event_types(&["lms.a.v1.X".into()], &published).is_ok());
        assert!(check_event_types(&["*".into()], &published).is_ok());
        assert_eq!(check_event_types(&[], &published).unwrap_err().0, 0);
        assert_eq!(
            check_event_types(&["lms.a.v1.X".into(), "nope".into()], &published)
                .unwrap_err()
                .0,
            1
        );
        assert!(check_event_types(&["*".into(), "lms.a.v1.X".into()], &published).is_err());
        assert!(subscribed(&["*".into()], "lms.a.v1.Y"));
        assert!(!subscribed(&["lms.a.v1.X".into()], "lms.a.v1.Y"));
    }
}
