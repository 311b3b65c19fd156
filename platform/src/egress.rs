//! Connections the suite makes to addresses an administrator chose (webhook receivers, another
//! Learning Record Store): only to public addresses and the networks the operator allowed,
//! checked when the URL is saved and again, by the resolver, whenever a connection is made.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Where the suite may connect on an administrator's say-so (webhook receivers, another
/// LRS): public addresses, and the networks the operator allowed.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// Whether `http://` URLs are accepted (tests; never for production receivers).
    pub allow_http: bool,
    /// Private, loopback or link-local networks the operator allowed, e.g. `127.0.0.0/8`.
    pub allowed_networks: Vec<IpNet>,
    /// The setting that allows networks, named when an address is refused.
    pub setting: &'static str,
}

impl Destinations {
    /// Reads the configured networks (`setting` names them in refusals); Err names the one
    /// that is not a CIDR block.
    pub fn new(
        allow_http: bool,
        networks: &[String],
        setting: &'static str,
    ) -> Result<Self, String> {
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
            setting,
        })
    }

    /// Whether a delivery may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed_networks.iter().any(|net| net.contains(&ip))
    }

    /// Checks a URL as given by an admin; Err says what is wrong in words.
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
            return Err("must not carry credentials (user:password@)".into());
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
                 ({})",
                self.setting
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

/// A resolver for reqwest that resolves names and keeps only the addresses the destination
/// rules permit: a name that resolves to a private address, or is rebound to one after the
/// URL was checked, is refused at connection time.
pub struct Guarded(pub Arc<Destinations>);

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let rules = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|addr| rules.permits(addr.ip()))
                .collect();
            if permitted.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to private, loopback or reserved addresses the \
                     operator has not allowed ({all:?})"
                )
                .into();
                return Err(refused);
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Destinations {
        Destinations::new(false, &[], "x.allowed_networks").unwrap()
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
            assert!(error.contains("(x.allowed_networks)"), "{url}: {error}");
        }
        let loopback = Destinations::new(true, &["127.0.0.0/8".into(), "::1".into()], "x").unwrap();
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
        assert!(Destinations::new(false, &["ten".into()], "x").is_err());
    }
}
