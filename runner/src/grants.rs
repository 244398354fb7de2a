//! What a guest is granted: the manifest's permissions, narrowed or widened by the command
//! line, resolved into concrete mounts, environment and network rules. Pure data: the
//! sandbox turns it into a WASI context.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use qyvpack::manifest::{FsAccess, Host, NetPattern, NetPolicy};

/// Where the app's file system (`fs:`) appears in the guest.
pub const DATA_DIR: &str = "/data";
/// Where a bundle's models appear in the guest (read-only).
pub const MODELS_DIR: &str = "/models";

/// A host directory visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
    /// What it is, for the banner: `diskfs`, `memfs`, `models`, `--dir`.
    pub origin: String,
}

/// Everything the guest may touch.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub mounts: Vec<Mount>,
    pub net: NetRules,
    /// The environment the guest sees, in order: fixed values, then granted host variables.
    pub env: Vec<(String, String)>,
    /// Names of granted host variables that were not set on the host (shown in `-v`).
    pub env_missing: Vec<String>,
}

/// Network rules, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetRules {
    /// No sockets and no name lookup.
    #[default]
    Deny,
    /// Any address, name lookup allowed.
    Any,
    /// Only these addresses; name lookup when a host name was listed.
    Allow {
        rules: Vec<AddrRule>,
        name_lookup: bool,
        /// The patterns as written: the banner shows them, and HTTP requests are checked
        /// against them by name ([`NetRules::allows_http`]).
        patterns: Vec<NetPattern>,
    },
}

/// One allowed address pattern after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRule {
    /// `None` means any IP address (`*:port`).
    pub ip: Option<IpAddr>,
    /// `None` means any port.
    pub port: Option<u16>,
}

/// A `host:port` pattern that cannot be turned into address rules.
#[derive(Debug, thiserror::Error)]
pub enum NetRuleError {
    #[error("net pattern `{pattern}`: cannot resolve `{host}`: {reason}")]
    Resolve {
        pattern: String,
        host: String,
        reason: String,
    },
}

impl NetRules {
    /// Resolves a manifest's net policy. Host names are looked up now, on the host: the
    /// guest may then connect to the addresses they had at start.
    pub fn resolve(policy: &NetPolicy) -> Result<NetRules, NetRuleError> {
        match policy {
            NetPolicy::Deny => Ok(NetRules::Deny),
            NetPolicy::Allow => Ok(NetRules::Any),
            NetPolicy::List(patterns) => {
                let mut rules = Vec::new();
                let mut name_lookup = false;
                for pattern in patterns {
                    // Apps served by the same run are reached in-process, by name, never
                    // through a socket; a wildcard domain (only an HTTP app's manifest may
                    // have one) is checked by name too.
                    if pattern.host.service().is_some() || matches!(pattern.host, Host::Wildcard(_))
                    {
                        continue;
                    }
                    let port = pattern.port;
                    match &pattern.host {
                        Host::Any => rules.push(AddrRule { ip: None, port }),
                        Host::Ip(ip) => rules.push(AddrRule {
                            ip: Some(*ip),
                            port,
                        }),
                        Host::Name(name) => {
                            name_lookup = true;
                            let addrs = (name.as_str(), 0u16).to_socket_addrs().map_err(|e| {
                                NetRuleError::Resolve {
                                    pattern: pattern.to_string(),
                                    host: name.clone(),
                                    reason: e.to_string(),
                                }
                            })?;
                            rules.extend(addrs.map(|a| AddrRule {
                                ip: Some(a.ip()),
                                port,
                            }));
                        }
                        // Refused by check_socket_grant above.
                        Host::Wildcard(_) => {}
                    }
                }
                Ok(NetRules::Allow {
                    rules,
                    name_lookup,
                    patterns: patterns.clone(),
                })
            }
        }
    }

    /// Whether the guest may use this socket address (to connect, bind or send).
    pub fn allows(&self, addr: &SocketAddr) -> bool {
        match self {
            NetRules::Deny => false,
            NetRules::Any => true,
            NetRules::Allow { rules, .. } => rules.iter().any(|r| {
                r.ip.is_none_or(|ip| same_ip(ip, addr.ip()))
                    && r.port.is_none_or(|p| p == addr.port())
            }),
        }
    }

    /// Whether an outgoing HTTP request to `host` (a name or an IP address, as in the URL) on
    /// `port` is granted: by name, so `*.domain` and service names (`NAME.service`) count,
    /// with no name resolution.
    pub fn allows_http(&self, host: &str, port: u16) -> bool {
        let patterns = match self {
            NetRules::Deny => return false,
            NetRules::Any => return true,
            NetRules::Allow { patterns, .. } => patterns,
        };
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        patterns.iter().any(|p| {
            p.port.is_none_or(|granted| granted == port)
                && match (&p.host, ip) {
                    (Host::Any, _) => true,
                    (Host::Ip(granted), Some(ip)) => same_ip(*granted, ip),
                    (_, Some(_)) | (Host::Ip(_), None) => false,
                    (pattern, None) => pattern.matches_name(host),
                }
        })
    }

    /// Whether the guest may look up host names.
    pub fn name_lookup(&self) -> bool {
        match self {
            NetRules::Deny => false,
            NetRules::Any => true,
            NetRules::Allow { name_lookup, .. } => *name_lookup,
        }
    }
}

/// IPv4 and its IPv4-mapped IPv6 form are the same address.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    canon(a) == canon(b)
}

/// Changes the command line makes to what a manifest grants.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--no-fs`: no mounts at all.
    pub no_fs: bool,
    /// `--read-only`: every mount read-only.
    pub read_only: bool,
    /// `--no-net`.
    pub no_net: bool,
    /// `--no-env`: no host variables (fixed `env` values stay).
    pub no_env: bool,
    /// `--grant net`: widen to any address.
    pub grant_net: bool,
    /// `--grant fs=read|write`: the fs access for mounts given with `--dir`.
    pub grant_fs: Option<FsAccess>,
    /// `--grant env=NAME`: extra host variables.
    pub grant_env: Vec<String>,
    /// `--dir HOST[::GUEST]`: extra mounts (need `--grant fs=...`).
    pub dirs: Vec<(PathBuf, String)>,
}

impl Overrides {
    /// Whether anything widens the manifest's grants (the banner says so loudly).
    pub fn widens(&self) -> bool {
        self.grant_net || self.grant_fs.is_some() || !self.grant_env.is_empty()
    }
}

impl fmt::Display for Grants {
    /// One line per grant, for the banner.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mounts.is_empty() {
            write!(f, "fs none")?;
        } else {
            let list: Vec<String> = self
                .mounts
                .iter()
                .map(|m| {
                    format!(
                        "{} {} ({}{})",
                        m.guest,
                        if m.writable { "rw" } else { "ro" },
                        m.origin,
                        // Scratch data: its host path says nothing useful (a private tmpfs).
                        if matches!(m.origin.as_str(), "memfs" | "netfs" | "models") {
                            String::new()
                        } else {
                            format!(" {}", m.host.display())
                        }
                    )
                })
                .collect();
            write!(f, "fs {}", list.join(", "))?;
        }
        match &self.net {
            NetRules::Deny => write!(f, "; net none")?,
            NetRules::Any => write!(f, "; net any")?,
            NetRules::Allow { patterns, .. } => {
                let shown: Vec<String> = patterns.iter().map(ToString::to_string).collect();
                write!(f, "; net {}", shown.join(", "))?
            }
        }
        if self.env.is_empty() {
            write!(f, "; env none")
        } else {
            let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
            write!(f, "; env {}", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(p: &[&str]) -> NetPolicy {
        NetPolicy::List(p.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn the_banner_shows_host_paths_of_host_directories_only() {
        let mount = |host: &str, guest: &str, origin: &str| Mount {
            host: host.into(),
            guest: guest.into(),
            writable: false,
            origin: origin.into(),
        };
        let g = Grants {
            mounts: vec![
                mount("/proc/9/root/tmp/memfs", "/data", "memfs"),
                mount("/proc/9/root/tmp/models", "/models", "models"),
                mount("/srv/x", "/x", "--dir"),
            ],
            ..Default::default()
        };
        assert_eq!(
            g.to_string(),
            "fs /data ro (memfs), /models ro (models), /x ro (--dir /srv/x); net none; env none"
        );
    }

    #[test]
    fn deny_allows_nothing_and_no_lookup() {
        let r = NetRules::resolve(&NetPolicy::Deny).unwrap();
        assert!(!r.allows(&"127.0.0.1:80".parse().unwrap()));
        assert!(!r.name_lookup());
    }

    #[test]
    fn list_admits_only_listed_ports_and_addresses() {
        let r = NetRules::resolve(&list(&["127.0.0.1:8080", "*:53", "[::1]:9000"])).unwrap();
        assert!(r.allows(&"127.0.0.1:8080".parse().unwrap()));
        assert!(r.allows(&"[::ffff:127.0.0.1]:8080".parse().unwrap()));
        assert!(!r.allows(&"127.0.0.1:8081".parse().unwrap()));
        assert!(!r.allows(&"10.0.0.1:8080".parse().unwrap()));
        assert!(r.allows(&"10.0.0.1:53".parse().unwrap()));
        assert!(r.allows(&"[::1]:9000".parse().unwrap()));
        assert!(!r.name_lookup(), "no host name listed, so no lookup");
    }

    #[test]
    fn host_names_resolve_and_enable_lookup() {
        let r = NetRules::resolve(&list(&["localhost:7000"])).unwrap();
        assert!(r.name_lookup());
        assert!(r.allows(&"127.0.0.1:7000".parse().unwrap()));
        assert!(!r.allows(&"127.0.0.1:7001".parse().unwrap()));
    }

    #[test]
    fn wildcards_and_services_are_http_grants_only() {
        let r = NetRules::resolve(&list(&["*.example.com:443", "service://back/80"])).unwrap();
        assert!(!r.allows(&"93.184.215.14:443".parse().unwrap()));
        assert!(!r.name_lookup(), "neither is looked up");
        assert!(r.allows_http("api.example.com", 443));
        assert!(r.allows_http("API.Example.com", 443));
        assert!(!r.allows_http("example.com", 443));
        assert!(!r.allows_http("api.example.com", 80));
        assert!(r.allows_http("back.service", 80));
        assert!(!r.allows_http("front.service", 80));
    }

    #[test]
    fn http_grants_match_addresses_by_address_and_names_by_name() {
        let r = NetRules::resolve(&list(&["127.0.0.1:8080", "localhost:*", "[::1]:9000"])).unwrap();
        assert!(r.allows_http("127.0.0.1", 8080));
        assert!(!r.allows_http("127.0.0.1", 8081));
        assert!(r.allows_http("localhost", 1234));
        assert!(r.allows_http("[::1]", 9000));
        assert!(!r.allows_http("127.0.0.2", 8080));
        // A name is not granted by the address it resolves to.
        assert!(
            !NetRules::resolve(&list(&["127.0.0.1:80"]))
                .unwrap()
                .allows_http("localhost", 80)
        );
        assert!(NetRules::Any.allows_http("anything.example", 1));
        assert!(!NetRules::Deny.allows_http("localhost", 80));
    }
}
