//! Address, host-name and CIDR parsing for the configuration.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// A listen address as written by the user; the port may be left to the `port` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

/// Parses "ip:port", "[v6]:port", "ip", "[v6]", "host:port" or "host".
pub(super) fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty address".to_string());
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Endpoint { ip: sa.ip(), port: Some(sa.port()) });
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Endpoint { ip, port: None });
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let ip = inner.parse::<IpAddr>().map_err(|_| format!("`{s}` is not an IP address"))?;
        return Ok(Endpoint { ip, port: None });
    }
    // CloudServer passes listenOn hosts to node's listen(), which resolves names.
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse::<u16>().map_err(|_| format!("invalid port `{p}` in `{s}`"))?;
            (h, Some(port))
        }
        None => (s, None),
    };
    Ok(Endpoint { ip: resolve_host(host)?, port })
}

fn resolve_host(host: &str) -> Result<IpAddr, String> {
    if host.is_empty() || host.contains(['[', ']', '/', ' ']) {
        return Err(format!("`{host}` is not an IP address or host name"));
    }
    // Resolving "localhost" may yield ::1 first, which fails to bind where IPv6 is off.
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let addrs: Vec<SocketAddr> =
        (host, 0).to_socket_addrs().map_err(|e| format!("cannot resolve `{host}`: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(SocketAddr::ip)
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

/// Fills in the default port, defaults to all interfaces when the list is empty, and removes
/// duplicates (binding the same address twice would fail).
pub(super) fn to_socket_addrs(list: &[Endpoint], default_port: u16) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    let all = [Endpoint { ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED), port: None }];
    let list = if list.is_empty() { &all[..] } else { list };
    for ep in list {
        let sa = SocketAddr::new(ep.ip, ep.port.unwrap_or(default_port));
        if !out.contains(&sa) {
            out.push(sa);
        }
    }
    out
}

/// Whether two sockets bound to the same port on these addresses would collide. An IPv6
/// wildcard is usually dual-stack, so it collides with everything.
pub(super) fn addrs_overlap(a: IpAddr, b: IpAddr) -> bool {
    let v6_any = |ip: IpAddr| ip.is_ipv6() && ip.is_unspecified();
    a == b || v6_any(a) || v6_any(b) || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

/// Reduces an endpoint as users write it ("S3.Example.com:8000", "http://host/") to the bare
/// lowercase host name that Host headers are matched against.
pub(super) fn normalize_host(s: &str) -> Option<String> {
    let mut h = s.trim().to_ascii_lowercase();
    for scheme in ["http://", "https://"] {
        if let Some(rest) = h.strip_prefix(scheme) {
            h = rest.to_string();
        }
    }
    if let Some(i) = h.find('/') {
        h.truncate(i);
    }
    if let Some(rest) = h.strip_prefix('[') {
        // "[::1]:8000" -> "::1"
        h = rest.split(']').next().unwrap_or_default().to_string();
    } else if h.matches(':').count() == 1
        && let Some((host, _port)) = h.split_once(':')
    {
        h = host.to_string();
    }
    let h = h.trim_end_matches('.').to_string();
    (!h.is_empty()).then_some(h)
}

/// Accepts "ip" or "ip/prefix" (IPv4 or IPv6), as CloudServer's allowFrom and trustedProxyCIDRs.
pub(super) fn validate_cidr(s: &str) -> Result<(), String> {
    let bad = || format!("`{s}` is not an IP address or CIDR");
    let (ip, prefix) = match s.split_once('/') {
        Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let ip: IpAddr = ip.trim().parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix {
        Some(p) if p > max => Err(bad()),
        _ => Ok(()),
    }
}
