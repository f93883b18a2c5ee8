//! Host header parsing. `<bucket>.<endpoint>[:port]` for a known endpoint is virtual-hosted
//! style; any other host (an IP, an unknown name, the endpoint itself) is path-style. Never
//! InvalidURI: that is CloudServer's most reported trap.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

#[derive(Debug, Clone)]
pub struct Hosts {
    /// Lower-case host names without ports, longest first so the most specific match wins.
    endpoints: Vec<String>,
}

impl Hosts {
    pub fn new(endpoints: &[String]) -> Self {
        let mut endpoints: Vec<String> =
            endpoints.iter().map(|e| strip_port(e).to_ascii_lowercase()).filter(|e| !e.is_empty()).collect();
        endpoints.sort_by_key(|e| std::cmp::Reverse(e.len()));
        endpoints.dedup();
        Hosts { endpoints }
    }

    /// The bucket named by the host, if the host is `<bucket>.<endpoint>`.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let host = strip_port(host);
        for ep in &self.endpoints {
            if host.len() > ep.len() + 1 {
                let (head, tail) = host.split_at(host.len() - ep.len());
                if tail.eq_ignore_ascii_case(ep) && head.ends_with('.') {
                    return Some(&head[..head.len() - 1]);
                }
            }
        }
        None
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: keep as is up to the closing bracket.
        return host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        match self.bucket_of(host) {
            Some(bucket) => {
                let domain = &strip_port(host)[bucket.len() + 1..];
                Ok(VirtualHost::new(domain).with_bucket(bucket))
            }
            None => Ok(VirtualHost::new(strip_port(host))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_and_path_style() {
        let h = Hosts::new(&["localhost".into(), "s3.amazonaws.com".into(), "127.0.0.1".into()]);
        assert_eq!(h.bucket_of("bucket.localhost:8000"), Some("bucket"));
        assert_eq!(h.bucket_of("my.dotted.bucket.s3.amazonaws.com"), Some("my.dotted.bucket"));
        assert_eq!(h.bucket_of("localhost:8000"), None);
        assert_eq!(h.bucket_of("unknown.example.com"), None);
        assert_eq!(h.bucket_of("127.0.0.1:8000"), None);
        let vh = h.parse_host_header("b.LOCALHOST:9000").unwrap();
        assert_eq!(vh.bucket(), Some("b"));
        assert_eq!(vh.domain(), "LOCALHOST");
        let vh = h.parse_host_header("whatever.internal:1").unwrap();
        assert_eq!(vh.bucket(), None);
        assert_eq!(strip_port("[::1]:8000"), "[::1]");
    }
}
