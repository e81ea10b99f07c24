//! Requests to addresses a firm gave us (webhook URLs), so that a URL cannot turn the
//! server against its own network: `https://` only, public addresses only — checked when
//! the URL is given and again on the address each request actually connects to (the DNS
//! answer is checked inside the resolver, so a name cannot resolve to a public address at
//! the check and a private one at the connection) — no redirects followed, a deadline, and
//! a bounded read of the answer. `allow_private` (`PORTAL_WEBHOOK_ALLOW_PRIVATE`, for
//! development and tests) lifts the scheme and address rules.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest a receiver may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer's body that is read (the rest is dropped with the connection).
pub const ANSWER_READ: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct OutboundPolicy {
    pub allow_private: bool,
}

/// Whether an address is on the public Internet (not loopback, private, link-local,
/// shared, multicast, documentation, unspecified or reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64 of anything
        }
    }
}

impl OutboundPolicy {
    /// The URL if its form may be sent to: `https://` (or `http://` when private targets
    /// are allowed) with a host; an IP literal host must be public.
    pub fn check_form(&self, raw: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err("webhook URLs must use https://".into()),
        }
        match url.host() {
            None => return Err("a webhook URL names a host".into()),
            Some(url::Host::Ipv4(ip)) => self.check_address(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_address(IpAddr::V6(ip))?,
            Some(url::Host::Domain(d)) if !self.allow_private && is_local_name(d) => {
                return Err(format!("{d} is not a public host"))
            }
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    fn check_address(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!("{ip} is not a public address"))
        }
    }

    /// `check_form`, then the host's DNS answer: every address must be public.
    pub async fn check(&self, raw: &str) -> Result<url::Url, String> {
        let url = self.check_form(raw)?;
        if let Some(url::Host::Domain(host)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs = resolve(host, port, *self).await?;
            if addrs.is_empty() {
                return Err(format!("{host} has no address"));
            }
        }
        Ok(url)
    }

    /// The HTTP client deliveries go through: this policy in its resolver, no redirects,
    /// the deadline, connections kept alive per receiver.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver(*self)))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(4)
            .user_agent(concat!(
                "portal-accounts-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .expect("a client with a resolver, a redirect policy and timeouts builds")
    }
}

fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local")
}

/// The host's addresses; an error if any of them may not be sent to.
async fn resolve(host: &str, port: u16, policy: OutboundPolicy) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    for addr in &addrs {
        policy
            .check_address(addr.ip())
            .map_err(|e| format!("{host} resolves to {e}"))?;
    }
    Ok(addrs)
}

/// The resolver behind every delivery: the DNS answer is checked where it is used.
struct PolicyResolver(OutboundPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let addrs = resolve(name.as_str(), 0, policy).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} called public");
        }
        for ip in ["93.184.215.14", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} called private");
        }
    }

    #[test]
    fn only_https_to_public_hosts_unless_private_targets_are_allowed() {
        let strict = OutboundPolicy::default();
        assert!(strict.check_form("https://hooks.example.com/x").is_ok());
        assert!(strict.check_form("http://hooks.example.com/x").is_err());
        assert!(strict.check_form("https://127.0.0.1/x").is_err());
        assert!(strict.check_form("https://[::1]/x").is_err());
        assert!(strict.check_form("https://localhost/x").is_err());
        assert!(strict.check_form("https://169.254.169.254/latest").is_err());
        let open = OutboundPolicy {
            allow_private: true,
        };
        assert!(open.check_form("http://127.0.0.1:9/x").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_resolution() {
        // What the delivery resolver does with every name, whatever its form.
        let refused = resolve("localhost", 443, OutboundPolicy::default()).await;
        assert!(refused.is_err(), "{refused:?}");
        let open = OutboundPolicy {
            allow_private: true,
        };
        assert!(!resolve("localhost", 443, open).await.unwrap().is_empty());
    }
}
