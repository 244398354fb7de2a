//! One registry, one repository scope: the HTTP transport and the authentication dance.
//!
//! Authentication follows what registries answer: a `401` carries a `WWW-Authenticate`
//! challenge; `Basic` gets the credentials on every request, `Bearer` sends them once to the
//! token service named in the challenge (scoped to this repository) and then the token. The
//! token is kept for the client's life and fetched again once if a request is refused. A pull
//! whose credentials the token service refuses is tried once more anonymously, because stale
//! credentials should not break a public image.

use std::io::Read;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::Response;

use crate::auth::{self, Credentials};
use crate::error::OciError;
use crate::reference::Reference;

/// Largest error body or token answer read.
pub const MAX_SMALL_BODY: u64 = 64 << 10;

/// How the registry is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    /// Plain HTTP: only for a loopback registry or a host the user named with `--insecure`.
    Http,
}

/// What a client may do in its repository (the Bearer token's scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

/// How to reach registries: hosts allowed over plain HTTP, and where credentials come from.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `HOST:PORT` entries that may be spoken to over plain HTTP.
    pub insecure: Vec<String>,
    pub env: auth::Environment,
}

impl Options {
    /// Plain HTTP for loopback registries (like docker) and for hosts named `--insecure`.
    pub fn transport_for(&self, registry: &str) -> Transport {
        if self.insecure.iter().any(|h| h == registry) || is_loopback(registry) {
            Transport::Http
        } else {
            Transport::Https
        }
    }
}

/// Whether `host[:port]` is a loopback address or `localhost`.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A request body: nothing, bytes (which can be sent again after a refusal), or a stream of
/// a known length (which cannot).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
}

/// A client for one repository of one registry.
pub struct Client {
    agent: ureq::Agent,
    options: Options,
    /// The registry as the reference names it.
    pub registry: String,
    pub repository: String,
    /// `scheme://host[:port]` of the API.
    base: String,
    access: Access,
    credentials: Option<Credentials>,
    /// The `Authorization` value in use, once a challenge asked for one.
    authorization: Mutex<Option<String>>,
}

impl Client {
    /// A client for `reference`'s repository; credentials are looked up now, used when the
    /// registry asks.
    pub fn new(
        reference: &Reference,
        access: Access,
        options: &Options,
    ) -> Result<Client, OciError> {
        let credentials = auth::lookup(&reference.registry, &options.env)?;
        let scheme = match options.transport_for(&reference.registry) {
            Transport::Https => "https",
            Transport::Http => "http",
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(5)
            // Blobs are content-addressed bytes: no transparent decompression.
            .accept_encoding("identity")
            .user_agent(concat!("qyv/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Ok(Client {
            agent,
            options: options.clone(),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            base: format!("{scheme}://{}", reference.api_host()),
            access,
            credentials,
            authorization: Mutex::new(None),
        })
    }

    /// A client for another repository of the same registry (for cross-repository mounts and
    /// tests), with its own scope.
    pub fn for_repository(&self, repository: &str, access: Access) -> Client {
        Client {
            agent: self.agent.clone(),
            options: self.options.clone(),
            registry: self.registry.clone(),
            repository: repository.into(),
            base: self.base.clone(),
            access,
            credentials: self.credentials.clone(),
            authorization: Mutex::new(None),
        }
    }

    /// `/v2/<repository>/<rest>` as a URL.
    pub(crate) fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repository)
    }

    /// An upload `Location` as a URL: a path on this registry, or a URL of the same origin.
    /// Anything else could send data (and credentials) elsewhere.
    pub(crate) fn location(&self, response: &Response<ureq::Body>) -> Result<String, OciError> {
        let loc = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if loc.starts_with('/') && !loc.starts_with("//") {
            return Ok(format!("{}{loc}", self.base));
        }
        if let Some(rest) = loc.strip_prefix(&self.base)
            && rest.starts_with('/')
        {
            return Ok(loc.to_string());
        }
        Err(OciError::BadLocation {
            registry: self.registry.clone(),
            location: loc.chars().take(300).collect(),
        })
    }

    /// Sends a request, answering an authentication challenge once. `path` is a URL of this
    /// registry.
    pub(crate) fn send(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        mut body: Body<'_>,
    ) -> Result<Response<ureq::Body>, OciError> {
        let mut refreshed = false;
        loop {
            let auth = self.authorization.lock().map(|a| a.clone()).unwrap_or(None);
            let response = self.send_once(method, url, headers, auth.as_deref(), &mut body)?;
            if response.status() != 401 || refreshed || matches!(body, Body::Stream(..)) {
                if response.status() == 401 {
                    return Err(self.refused(response));
                }
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(challenge) = challenge else {
                return Err(self.refused(response));
            };
            let value = self.answer(&challenge, error_codes(response))?;
            if let Ok(mut a) = self.authorization.lock() {
                *a = Some(value);
            }
            refreshed = true;
        }
    }

    fn send_once(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        auth: Option<&str>,
        body: &mut Body<'_>,
    ) -> Result<Response<ureq::Body>, OciError> {
        let transport = |e: ureq::Error| OciError::Transport {
            url: url.to_string(),
            source: Box::new(e),
        };
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        if let Some(a) = auth {
            builder = builder.header("authorization", a);
        }
        let result = match body {
            Body::Empty => {
                let req = if matches!(method, "POST" | "PUT" | "PATCH") {
                    builder.header("content-length", "0")
                } else {
                    builder
                };
                self.agent
                    .run(req.body(()).map_err(|e| transport(e.into()))?)
            }
            Body::Bytes(b) => {
                let req = builder
                    .header("content-length", b.len().to_string())
                    .body(*b)
                    .map_err(|e| transport(e.into()))?;
                self.agent.run(req)
            }
            Body::Stream(reader, len) => {
                let req = builder
                    .header("content-length", len.to_string())
                    .body(ureq::SendBody::from_reader(*reader))
                    .map_err(|e| transport(e.into()))?;
                self.agent.run(req)
            }
        };
        result.map_err(transport)
    }

    /// The `Authorization` value that answers `challenge`.
    fn answer(&self, challenge: &str, codes: Vec<String>) -> Result<String, OciError> {
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => match &self.credentials {
                Some(c) => Ok(c.basic_header()),
                None => Err(OciError::NoCredentials {
                    registry: self.registry.clone(),
                    codes,
                }),
            },
            "bearer" => {
                let realm = params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("realm"))
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                let service = params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("service"))
                    .map(|(_, v)| v.as_str());
                let token = self.token(realm, service)?;
                Ok(format!("Bearer {token}"))
            }
            _ => Err(OciError::UnknownChallenge {
                registry: self.registry.clone(),
                challenge: challenge.chars().take(200).collect(),
            }),
        }
    }

    /// A token from the token service at `realm`, with the credentials if any; for a pull
    /// refused with credentials, once more without.
    fn token(&self, realm: &str, service: Option<&str>) -> Result<String, OciError> {
        self.check_realm(realm)?;
        let actions = match self.access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        let scope = format!("repository:{}:{actions}", self.repository);
        let mut url = format!(
            "{realm}{}scope={}",
            if realm.contains('?') { '&' } else { '?' },
            encode(&scope)
        );
        if let Some(s) = service {
            url.push_str(&format!("&service={}", encode(s)));
        }
        let mut attempts: Vec<Option<&Credentials>> = vec![self.credentials.as_ref()];
        if self.credentials.is_some() && self.access == Access::Pull {
            attempts.push(None);
        }
        let mut last = None;
        for creds in attempts {
            let mut builder = ureq::http::Request::builder().method("GET").uri(&url);
            if let Some(c) = creds {
                builder = builder.header("authorization", c.basic_header());
            }
            let req = builder.body(()).map_err(|e| OciError::Transport {
                url: realm.into(),
                source: Box::new(e.into()),
            })?;
            let response = self.agent.run(req).map_err(|e| OciError::Transport {
                url: realm.into(),
                source: Box::new(e),
            })?;
            if response.status() == 200 {
                let bytes = read_small(response, "the token service's answer")?;
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| OciError::Invalid {
                        what: "the token service's answer".into(),
                        why: e.to_string(),
                    })?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
                    .ok_or_else(|| OciError::Invalid {
                        what: "the token service's answer".into(),
                        why: "it holds no usable token".into(),
                    })?;
                return Ok(token.to_string());
            }
            last = Some(response);
        }
        Err(self.refused(last.expect("one attempt at least")))
    }

    /// A token realm must be HTTPS, or plain HTTP where the registry itself may be: the
    /// credentials go there.
    fn check_realm(&self, realm: &str) -> Result<(), OciError> {
        let host = |rest: &str| rest.split(['/', '?']).next().unwrap_or("").to_string();
        let ok = match realm.split_once("://") {
            Some(("https", rest)) => !host(rest).is_empty(),
            Some(("http", rest)) => {
                let h = host(rest);
                self.options.transport_for(&h) == Transport::Http
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(OciError::BadLocation {
                registry: self.registry.clone(),
                location: realm.chars().take(300).collect(),
            })
        }
    }

    /// The error for a refused request: whose credentials were refused, or that none were
    /// there.
    fn refused(&self, response: Response<ureq::Body>) -> OciError {
        let codes = error_codes(response);
        match &self.credentials {
            Some(c) => OciError::Unauthorized {
                registry: self.registry.clone(),
                from: c.source.clone(),
                codes,
            },
            None => OciError::NoCredentials {
                registry: self.registry.clone(),
                codes,
            },
        }
    }

    /// The error for an unexpected status, with the registry's error codes.
    pub(crate) fn status_error(
        &self,
        method: &'static str,
        url: &str,
        response: Response<ureq::Body>,
    ) -> OciError {
        let status = response.status().as_u16();
        OciError::Status {
            registry: self.registry.clone(),
            method,
            path: url
                .strip_prefix(&self.base)
                .unwrap_or(url)
                .split('?')
                .next()
                .unwrap_or("")
                .to_string(),
            status,
            codes: error_codes(response),
        }
    }
}

/// Reads a small body (a token, an error, a manifest) within `MAX_SMALL_BODY`.
pub(crate) fn read_small(response: Response<ureq::Body>, what: &str) -> Result<Vec<u8>, OciError> {
    read_limited(response, MAX_SMALL_BODY, what)
}

/// Reads a body of at most `limit` bytes.
pub(crate) fn read_limited(
    response: Response<ureq::Body>,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, OciError> {
    match response
        .into_body()
        .into_with_config()
        .limit(limit)
        .read_to_vec()
    {
        Ok(b) => Ok(b),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(OciError::TooLarge {
            what: what.into(),
            limit,
        }),
        Err(e) => Err(OciError::Transport {
            url: what.into(),
            source: Box::new(e),
        }),
    }
}

/// The registry's error codes in an error body: `CODE: message`, at most a few.
fn error_codes(response: Response<ureq::Body>) -> Vec<String> {
    let Ok(bytes) = read_small(response, "an error") else {
        return Vec::new();
    };
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(200).collect() };
    serde_json::from_slice::<Errors>(&bytes)
        .map(|e| {
            e.errors
                .iter()
                .take(5)
                .map(|e| {
                    let code = clean(e.code.as_deref().unwrap_or("UNKNOWN"));
                    match e.message.as_deref() {
                        Some(m) if !m.is_empty() => format!("{code}: {}", clean(m)),
                        _ => code,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `WWW-Authenticate: Scheme k="v", k2=v2` as the scheme and its parameters.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_string(), value.trim().to_string()));
    }
    (scheme.to_string(), params)
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quotes_and_commas() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(
            p,
            vec![
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((s.as_str(), p[0].1.as_str()), ("Basic", "Registry Realm"));
    }

    #[test]
    fn plain_http_only_for_loopback_or_named_hosts() {
        let o = Options {
            insecure: vec!["build.lan:5000".into()],
            ..Default::default()
        };
        assert_eq!(o.transport_for("127.0.0.1:5000"), Transport::Http);
        assert_eq!(o.transport_for("localhost:5000"), Transport::Http);
        assert_eq!(o.transport_for("[::1]:5000"), Transport::Http);
        assert_eq!(o.transport_for("build.lan:5000"), Transport::Http);
        assert_eq!(o.transport_for("build.lan:5001"), Transport::Https);
        assert_eq!(o.transport_for("127.0.0.1.example.com"), Transport::Https);
    }

    #[test]
    fn scopes_are_encoded() {
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
