//! Where a subscription may send: a guard against server-side request
//! forgery. A subscriber names a URL and the service calls it from inside
//! the shop's network, so a URL that points back inside (loopback,
//! private, link-local, carrier-grade NAT, the cloud metadata address) is
//! refused unless the operator allows it (`webhooks.allow_private_targets`).
//!
//! The check is made twice: on the URL when a subscription is made or
//! changed, for a clear answer, and on every address a host name resolves
//! to when the service connects, so that a name that later resolves
//! inside (DNS rebinding) is refused too. Redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::error::WebhookError;

/// Longest URL a subscription may name.
const MAX_URL: usize = 2_048;

/// Checks a subscription's target URL.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, WebhookError> {
    let invalid = |reason: &str| WebhookError::invalid("url", reason);
    if text.len() > MAX_URL {
        return Err(invalid("is longer than 2,048 characters"));
    }
    let url = Url::parse(text).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must be http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry credentials: messages are signed instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    let host = match url.host() {
        Some(host) => host,
        None => return Err(invalid("names no host")),
    };
    if !allow_private {
        let inside = match host {
            url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
            url::Host::Domain(name) => is_local_name(name),
        };
        if inside {
            return Err(WebhookError::PrivateTarget(host.to_string()));
        }
    }
    Ok(url)
}

/// Names that always mean this machine or its network.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || !name.contains('.')
}

/// Whether an address lies on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // carrier-grade NAT
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments
        || (a == 192 && b == 0 && c == 0)
        // benchmarking
        || (a == 198 && (b == 18 || b == 19))
        // reserved
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // unique local fc00::/7
        || (first & 0xfe00) == 0xfc00
        // link-local fe80::/10
        || (first & 0xffc0) == 0xfe80
        // documentation 2001:db8::/32
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64
/// (`64:ff9b::a.b.c.d`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]).then(|| {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

/// Resolves host names for the dispatcher's HTTP client and drops every
/// address that is not public: a name that resolves only inside fails to
/// connect.
#[derive(Debug, Default)]
pub(crate) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(WebhookError::PrivateTarget(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The resolver for a client that may only reach public addresses.
pub(crate) fn public_only() -> Arc<PublicOnly> {
    Arc::new(PublicOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_inside_are_refused() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://localhost:3000/",
            "http://printer.local/",
            "http://metadata.google.internal/",
            "http://intranet/",
        ] {
            assert!(
                matches!(check_url(url, false), Err(WebhookError::PrivateTarget(_))),
                "{url}"
            );
            assert!(check_url(url, true).is_ok(), "{url} when allowed");
        }
    }

    #[test]
    fn public_targets_pass_and_bad_urls_say_why() {
        assert!(check_url("https://erp.example.com/hooks/aftersales", false).is_ok());
        assert!(check_url("http://93.184.216.34:8443/x", false).is_ok());
        for url in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "not a url",
            "https://example.com/#frag",
        ] {
            assert!(
                matches!(check_url(url, false), Err(WebhookError::Invalid { .. })),
                "{url}"
            );
        }
    }
}
