//! Where a webhook may not point (server-side request forgery): unless
//! `webhooks.allow_private_networks`, a URL whose host is or resolves to a loopback, private
//! (RFC 1918, fc00::/7), link-local (169.254.0.0/16, fe80::/10), unspecified, broadcast or
//! multicast address is refused. IPv4 written as a number, in hex or in octal
//! (`http://2130706433/`, `http://0x7f.1/`) is normalised by the `url` crate before the check;
//! an IPv4-mapped IPv6 address is checked as the IPv4 address it maps.
//!
//! Checked when a subscription is written (a 422 naming `url`), and again at every delivery,
//! where the connection goes to an address that was checked (see [`CheckedResolver`]), so
//! that a name which resolves elsewhere later (DNS rebinding) gets nowhere.

use std::{
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use hyper_util::client::legacy::connect::dns::Name;
use url::{Host, Url};

/// How long a name may take to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why `ip` may not be reached, if it may not.
pub fn refused_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_unspecified() || ip.octets()[0] == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique-local) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// Why the URL's host may not be reached without resolving it (an address, or a name that is
/// loopback by definition: `localhost`, `*.localhost`), if it may not.
pub fn refused_host(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Ipv4(ip) => refused_ip(IpAddr::V4(ip)).map(|why| format!("is {why}")),
        Host::Ipv6(ip) => refused_ip(IpAddr::V6(ip)).map(|why| format!("is {why}")),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost"))
                .then(|| "is a loopback name".to_owned())
        }
    }
}

/// Refuses the URL unless its host may be reached: checked as written, then (a name) every
/// address it resolves to. The message completes "the URL's host ...".
pub async fn check(url: &Url) -> Result<(), String> {
    if let Some(why) = refused_host(url) {
        return Err(why);
    }
    let Some(Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    let addresses = resolve(name).await.map_err(|err| err.to_string())?;
    checked(name, addresses).map(|_| ())
}

async fn resolve(name: &str) -> io::Result<Vec<SocketAddr>> {
    let lookup = tokio::net::lookup_host((name, 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => Ok(addresses.collect()),
        Ok(Err(err)) => Err(io::Error::other(format!("does not resolve ({err})"))),
        Err(_) => Err(io::Error::other(format!(
            "does not resolve within {RESOLVE_TIMEOUT:?}"
        ))),
    }
}

/// The addresses, unless one of them is refused (or there are none).
fn checked(name: &str, addresses: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    if addresses.is_empty() {
        return Err("does not resolve to any address".to_owned());
    }
    for address in &addresses {
        if let Some(why) = refused_ip(address.ip()) {
            return Err(format!("{name} resolves to {}, {why}", address.ip()));
        }
    }
    Ok(addresses)
}

/// The resolver of the delivery client: it resolves once, refuses a name with a refused
/// address, and hands the connector exactly the addresses it checked, so the connection goes
/// to one of them (the request keeps its `Host`). With `allow_private`, it only resolves.
#[derive(Clone, Copy, Debug)]
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addresses = resolve(name.as_str()).await?;
            let addresses = match allow_private {
                true => addresses,
                false => checked(name.as_str(), addresses).map_err(io::Error::other)?,
            };
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> bool {
        refused_host(&Url::parse(url).unwrap()).is_some()
    }

    #[test]
    fn refuses_every_kind_of_internal_address_however_written() {
        for url in [
            "http://localhost/",
            "http://LOCALHOST./x",
            "http://api.localhost/",
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
        ] {
            assert!(refused(url), "{url} should be refused");
        }
        for url in [
            "https://example.com/hook",
            "http://93.184.216.34/",
            "http://[2606:4700::1111]/",
        ] {
            assert!(!refused(url), "{url} should be allowed");
        }
    }
}
