//! `permissions.net` patterns, `host:port`: the one parser that `validate`, `run` and the
//! JSON Schema's description follow, so that what one accepts the others enforce.
//!
//! What the patterns mean (docs/manifest.md): a host is `*` (any address), an IP address
//! (IPv6 in brackets), a host name, or `*.domain`, any name below `domain` (not `domain`
//! itself); a port is a number or `*`. Socket grants are checked by IP address when the guest
//! connects, binds or sends, so a name grants the addresses it resolves to when the run
//! starts. A wildcard domain cannot be turned into addresses (qyv cannot learn which names
//! the guest's look-ups resolved to which addresses), so as a socket grant it is refused, by
//! `validate` and `run` alike, with [`NetPatternError::WildcardSocket`]; [`Host::matches_name`]
//! is the rule for grants checked by name.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One `host:port` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetPattern {
    pub host: Host,
    /// `None`: any port (`*`).
    pub port: Option<u16>,
}

/// The host part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `*`: any address.
    Any,
    /// An IPv4 address, or an IPv6 address (written in brackets).
    Ip(IpAddr),
    /// A host name, lowercase.
    Name(String),
    /// `*.domain`: any name below `domain` (held lowercase, without `*.`).
    Wildcard(String),
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetPatternError {
    #[error("it has no `:port`")]
    NoPort,
    #[error("port `{0}` is not `*` or a number up to 65535")]
    Port(String),
    #[error("`{0}` is not an IPv6 address")]
    Ipv6(String),
    #[error("`{0}` is not a host name, an IP address, `*` or `*.domain`")]
    Host(String),
    #[error(
        "`{0}`: a wildcard domain cannot be a socket grant: sockets are checked by IP address, and qyv cannot tell which names an address was looked up as"
    )]
    WildcardSocket(String),
}

/// The pseudo top-level domain of the apps one `qyv run` serves: `http://NAME.service/` reaches
/// the app named NAME in-process, without a host port (the original design's virtual network,
/// `service://NAME/PORT`, is read as `NAME.service:PORT`).
pub const SERVICE_DOMAIN: &str = "service";

impl FromStr for NetPattern {
    type Err = NetPatternError;

    fn from_str(text: &str) -> Result<NetPattern, NetPatternError> {
        if let Some(rest) = text.strip_prefix("service://") {
            let (name, port) = rest.split_once('/').unwrap_or((rest, "*"));
            if name.contains('.') || !valid_host_name(name) {
                return Err(NetPatternError::Host(format!("service://{name}")));
            }
            return format!("{name}.{SERVICE_DOMAIN}:{port}").parse();
        }
        let (host, port) = text.rsplit_once(':').ok_or(NetPatternError::NoPort)?;
        let port = match port {
            "*" => None,
            // Digits only: `u16::from_str` would take `+80`.
            p if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
                p.parse::<u16>()
                    .map_err(|_| NetPatternError::Port(p.into()))?,
            ),
            p => return Err(NetPatternError::Port(p.into())),
        };
        Ok(NetPattern {
            host: host.parse()?,
            port,
        })
    }
}

impl FromStr for Host {
    type Err = NetPatternError;

    fn from_str(host: &str) -> Result<Host, NetPatternError> {
        if host == "*" {
            return Ok(Host::Any);
        }
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return inner
                .parse::<std::net::Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| NetPatternError::Ipv6(inner.into()));
        }
        if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
            return Ok(Host::Ip(IpAddr::V4(ip)));
        }
        let (name, wildcard) = match host.strip_prefix("*.") {
            Some(suffix) => (suffix, true),
            None => (host, false),
        };
        if !valid_host_name(name) {
            return Err(NetPatternError::Host(host.into()));
        }
        let name = name.to_ascii_lowercase();
        Ok(if wildcard {
            Host::Wildcard(name)
        } else {
            Host::Name(name)
        })
    }
}

/// Labels of letters, digits and inner `-`, at most 63 bytes each and 253 in all; the last
/// starts with a letter, so that `127.1` or `0x7f000001`, which the system's resolver reads
/// as addresses, are not names.
fn valid_host_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.len() <= 253
        && name.split('.').all(label_ok)
        && name
            .rsplit('.')
            .next()
            .is_some_and(|top| top.starts_with(|c: char| c.is_ascii_alphabetic()))
}

impl Host {
    /// Whether a host name (as in a URL) is granted: names compare without case; `*.domain`
    /// grants every name below `domain`, at any depth, and not `domain` itself.
    pub fn matches_name(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        match self {
            Host::Any => true,
            Host::Ip(_) => false,
            Host::Name(n) => *n == name,
            Host::Wildcard(suffix) => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|below| below.len() > 1 && below.ends_with('.')),
        }
    }
}

impl Host {
    /// The app name when this is a service name (`NAME.service`).
    pub fn service(&self) -> Option<&str> {
        match self {
            Host::Name(n) => service_of(n),
            _ => None,
        }
    }
}

/// NAME of a host name `NAME.service`: an app served by the same `qyv run`.
pub fn service_of(host: &str) -> Option<&str> {
    host.strip_suffix(SERVICE_DOMAIN)
        .and_then(|h| h.strip_suffix('.'))
        .filter(|name| !name.is_empty() && !name.contains('.'))
}

impl NetPattern {
    /// Refuses what cannot be a socket grant (module doc): wildcard domains.
    pub fn check_socket_grant(&self) -> Result<(), NetPatternError> {
        match self.host {
            Host::Wildcard(_) => Err(NetPatternError::WildcardSocket(self.to_string())),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Any => write!(f, "*"),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Name(n) => write!(f, "{n}"),
            Host::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

impl fmt::Display for NetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => write!(f, "{}:*", self.host),
        }
    }
}

impl serde::Serialize for NetPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetPattern, NetPatternError> {
        s.parse()
    }

    #[test]
    fn patterns_parse_into_their_parts() {
        let cases: &[(&str, Host, Option<u16>)] = &[
            (
                "api.example.com:443",
                Host::Name("api.example.com".into()),
                Some(443),
            ),
            (
                "API.Example.COM:443",
                Host::Name("api.example.com".into()),
                Some(443),
            ),
            ("localhost:1", Host::Name("localhost".into()), Some(1)),
            (
                "127.0.0.1:8080",
                Host::Ip("127.0.0.1".parse().unwrap()),
                Some(8080),
            ),
            ("[::1]:9000", Host::Ip("::1".parse().unwrap()), Some(9000)),
            (
                "[::ffff:1.2.3.4]:1",
                Host::Ip("::ffff:1.2.3.4".parse().unwrap()),
                Some(1),
            ),
            ("*:80", Host::Any, Some(80)),
            ("*:*", Host::Any, None),
            (
                "*.example.com:*",
                Host::Wildcard("example.com".into()),
                None,
            ),
            ("x:65535", Host::Name("x".into()), Some(65535)),
        ];
        for (text, host, port) in cases {
            let p = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((&p.host, p.port), (host, *port), "{text}");
            // The written form reads back the same.
            assert_eq!(parse(&p.to_string()).unwrap(), p, "{text}");
        }
    }

    #[test]
    fn service_urls_read_as_service_names() {
        let p = parse("service://back/80").unwrap();
        assert_eq!(p.host, Host::Name("back.service".into()));
        assert_eq!(p.port, Some(80));
        assert_eq!(p.host.service(), Some("back"));
        assert_eq!(p.to_string(), "back.service:80");
        assert_eq!(parse("service://back").unwrap().port, None);
        assert_eq!(
            parse("back.service:*").unwrap().host.service(),
            Some("back")
        );
        assert_eq!(parse("api.example.com:443").unwrap().host.service(), None);
        assert_eq!(service_of("a.b.service"), None);
        for bad in [
            "service://",
            "service://a.b/80",
            "service://x/http",
            "service://-x/1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_patterns_are_refused() {
        for bad in [
            "",
            ":",
            "*",
            "*:",
            ":*",
            ":80",
            "example.com",
            "host:",
            "host:-1",
            "host:+80",
            "host:65536",
            "host:99999",
            "host:123456",
            "host:8 0",
            "host: 80",
            " host:80",
            "host:80 ",
            "host:0x50",
            "host:８０",
            "::1:80",
            "[::1]",
            "[::1]:80:80",
            "[1.2.3.4]:80",
            "[fe80::1%eth0]:80",
            "[nope]:1",
            "[]:1",
            "*.:80",
            "*.*.com:80",
            "**.com:80",
            "*com:80",
            "a.*.com:80",
            "*.-a.com:80",
            "-a.com:1",
            "a-.com:1",
            "ho st:80",
            "exämple.com:80",
            "a..b:80",
            ".a.com:80",
            "a.com.:80",
            "a_b.com:80",
            "127.1:80",
            "1.2.3.4.5:80",
            "256.1.1.1:80",
            "01.2.3.4:80",
            "0x7f000001:80",
            "a\0b:80",
            "a\nb:80",
            "%61.com:80",
            "user@host:80",
            "http://host:80",
            "host/path:80",
        ] {
            assert!(parse(bad).is_err(), "`{}` was accepted", bad.escape_debug());
        }
        let long_label = format!("{}.com:1", "a".repeat(64));
        let long_name = format!("{}:1", ["abcdefghi"; 26].join("."));
        assert!(long_name.len() > 253 + 2);
        for bad in [long_label, long_name] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_match_names_below_their_domain_and_are_no_socket_grant() {
        let w: Host = "*.example.com".parse().unwrap();
        assert!(w.matches_name("api.example.com"));
        assert!(w.matches_name("a.b.Example.com"));
        assert!(!w.matches_name("example.com"));
        assert!(!w.matches_name("evilexample.com"));
        assert!(!w.matches_name("example.com.evil.org"));
        assert!(!w.matches_name(".example.com"));
        let exact: Host = "api.example.com".parse().unwrap();
        assert!(exact.matches_name("API.example.com"));
        assert!(!exact.matches_name("x.api.example.com"));

        let p = parse("*.example.com:443").unwrap();
        assert_eq!(
            p.check_socket_grant(),
            Err(NetPatternError::WildcardSocket("*.example.com:443".into()))
        );
        for ok in ["*:443", "example.com:443", "10.0.0.1:*"] {
            assert_eq!(parse(ok).unwrap().check_socket_grant(), Ok(()), "{ok}");
        }
    }
}
