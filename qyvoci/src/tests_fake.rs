//! The client against [`crate::fake`]: the paths the real registry of the end-to-end tests
//! does not take, and hostile answers.

use crate::auth::{CredentialSource, Environment};
use crate::client::{Access, Client, Options};
use crate::digest::Digest;
use crate::error::OciError;
use crate::fake::{FakeRegistry, Request, h};
use crate::reference::Reference;
use crate::referrers::Attached;

fn client(fake: &FakeRegistry, access: Access, env: Environment) -> Client {
    let r = Reference::parse(&format!("{}/apps/hello:1", fake.addr)).unwrap();
    Client::new(
        &r,
        access,
        &Options {
            insecure: Vec::new(),
            env,
        },
    )
    .unwrap()
}

fn creds(user: &str, pass: &str) -> Environment {
    Environment {
        username: Some(user.into()),
        password: Some(pass.into()),
        docker_config: None,
    }
}

#[test]
fn bearer_tokens_are_fetched_once_with_the_scope_and_reused() {
    let addr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let a = addr.clone();
    let fake = FakeRegistry::start(move |r: &Request| {
        let addr = a.lock().unwrap().clone();
        if r.target.starts_with("/token") {
            // user:pw
            return if r.header("authorization") == Some("Basic dXNlcjpwdw==") {
                (200, vec![], br#"{"token":"t0k3n"}"#.to_vec())
            } else {
                (401, vec![], Vec::new())
            };
        }
        if r.header("authorization") != Some("Bearer t0k3n") {
            let challenge = format!(
                r#"Bearer realm="http://{addr}/token",service="fake",scope="repository:apps/hello:pull""#
            );
            return (401, vec![h("www-authenticate", &challenge)], Vec::new());
        }
        (
            404,
            vec![],
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}"#.to_vec(),
        )
    });
    *addr.lock().unwrap() = fake.addr.clone();
    let c = client(&fake, Access::Push, creds("user", "pw"));
    assert!(!c.has_blob(&Digest::of(b"a")).unwrap());
    assert!(!c.has_blob(&Digest::of(b"b")).unwrap());
    let seen = fake.requests();
    let tokens: Vec<_> = seen
        .iter()
        .filter(|r| r.target.starts_with("/token"))
        .collect();
    assert_eq!(tokens.len(), 1, "the token is reused");
    assert!(
        tokens[0]
            .target
            .contains("scope=repository%3Aapps%2Fhello%3Apull%2Cpush"),
        "{}",
        tokens[0].target
    );
    assert!(tokens[0].target.contains("service=fake"));

    // Wrong credentials: the error names where they came from; a pull is retried without.
    let c = client(&fake, Access::Push, creds("user", "nope"));
    match c.has_blob(&Digest::of(b"a")) {
        Err(OciError::Unauthorized { from, .. }) => assert_eq!(from, CredentialSource::Environment),
        other => panic!("{other:?}"),
    }
    let before = fake.requests().len();
    let c = client(&fake, Access::Pull, creds("user", "nope"));
    assert!(c.has_blob(&Digest::of(b"a")).is_err());
    let retried: Vec<_> = fake.requests()[before..]
        .iter()
        .filter(|r| r.target.starts_with("/token"))
        .map(|r| r.header("authorization").is_some())
        .collect();
    assert_eq!(
        retried,
        vec![true, false],
        "a pull tries once more anonymously"
    );
}

#[test]
fn a_token_realm_elsewhere_over_plain_http_is_refused() {
    let fake = FakeRegistry::start(|_| {
        (
            401,
            vec![h(
                "www-authenticate",
                r#"Bearer realm="http://evil.example/token""#,
            )],
            Vec::new(),
        )
    });
    let c = client(&fake, Access::Pull, creds("user", "pw"));
    assert!(matches!(
        c.has_blob(&Digest::of(b"a")),
        Err(OciError::BadLocation { .. })
    ));
}

#[test]
fn the_referrers_api_is_used_when_the_registry_answers_with_oci_subject() {
    let subject = Digest::of(b"subject");
    let s = subject.to_string();
    let fake = FakeRegistry::start(move |r: &Request| {
        if r.method == "PUT" && r.target.contains("/manifests/sha256:") {
            (201, vec![h("OCI-Subject", &s)], Vec::new())
        } else {
            (500, vec![], Vec::new())
        }
    });
    let c = client(&fake, Access::Push, Environment::default());
    let m = br#"{"schemaVersion":2}"#;
    assert_eq!(
        c.attach(&subject, m, "application/x").unwrap(),
        Attached::ReferrersApi
    );
    let seen = fake.requests();
    assert!(
        seen.iter().all(|r| !r.target.contains("sha256-")),
        "no fallback tag is written"
    );
    assert_eq!(seen[0].body, m, "the manifest is sent as given");
}

#[test]
fn hostile_answers_are_refused() {
    let big = vec![b' '; (crate::manifests::MAX_MANIFEST + 10) as usize];
    let fake = FakeRegistry::start(move |r: &Request| match r.target.as_str() {
        t if t.ends_with("/manifests/big") => (200, vec![], big.clone()),
        t if t.ends_with("/manifests/liar") => (
            200,
            vec![h(
                "docker-content-digest",
                &Digest::of(b"other").to_string(),
            )],
            b"{}".to_vec(),
        ),
        t if t.contains("/blobs/uploads/") => (
            202,
            vec![h("location", "http://evil.example/upload")],
            Vec::new(),
        ),
        t if t.contains("/blobs/sha256:") && r.method == "GET" => {
            (200, vec![], b"longer than said".to_vec())
        }
        _ => (404, vec![], Vec::new()),
    });
    let c = client(&fake, Access::Push, Environment::default());
    assert!(matches!(
        c.get_manifest("big", &["x"]),
        Err(OciError::TooLarge { .. })
    ));
    assert!(matches!(
        c.get_manifest("liar", &["x"]),
        Err(OciError::DigestMismatch { .. })
    ));
    assert!(matches!(
        c.push_blob_bytes(b"data"),
        Err(OciError::BadLocation { .. })
    ));
    let mut out = Vec::new();
    let d = Digest::of(b"longer");
    assert!(matches!(
        c.pull_blob(&d, 6, &mut out, &|_| {}),
        Err(OciError::SizeMismatch { .. })
    ));
    assert!(matches!(
        c.pull_blob(&Digest::of(b"x"), 16, &mut Vec::new(), &|_| {}),
        Err(OciError::DigestMismatch { .. })
    ));
}

#[test]
fn a_blob_is_mounted_from_another_repository_when_the_registry_can() {
    let fake = FakeRegistry::start(|r: &Request| {
        if r.method == "HEAD" {
            (404, vec![], Vec::new())
        } else if r.method == "POST" && r.target.contains("mount=sha256:") {
            (201, vec![], Vec::new())
        } else {
            (500, vec![], Vec::new())
        }
    });
    let c = client(&fake, Access::Push, Environment::default());
    let data = b"shared layer";
    let pushed = c
        .push_blob(
            &Digest::of(data),
            data.len() as u64,
            &mut &data[..],
            Some("apps/base"),
            &|_| {},
        )
        .unwrap();
    assert_eq!(pushed, crate::blobs::Pushed::Mounted);
    let post = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(post.target.ends_with("&from=apps/base"), "{}", post.target);
    assert!(
        fake.requests().iter().all(|r| r.method != "PATCH"),
        "nothing is uploaded"
    );
}
