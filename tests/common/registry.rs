//! A real OCI registry for the tests: Debian's `docker-registry` (distribution 2.8) on a free
//! loopback port with a temporary storage root, optionally behind htpasswd Basic auth. It has
//! no referrers API, so qyv's fallback tag is what it exercises. Installed by
//! scripts/install-toolchains.sh; missing, the tests fail.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The user and password the htpasswd registry accepts.
pub const USER: &str = "qyvtest";
pub const PASSWORD: &str = "s3cret-pass";
/// `htpasswd -Bbn qyvtest s3cret-pass` (bcrypt, cost 5: fast to check).
const HTPASSWD: &str = "qyvtest:$2y$05$eSLiohjcqn46pcecytMWp.gYuy1NoPUskBn8Fn0q56wobppr9shKO\n";

/// A running registry, stopped when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// A registry anyone may push to.
    pub fn start() -> Registry {
        Registry::start_with(false)
    }

    /// A registry that wants [`USER`] and [`PASSWORD`] (Basic auth).
    pub fn with_auth() -> Registry {
        Registry::start_with(true)
    }

    fn start_with(auth: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n",
            storage.display()
        );
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, HTPASSWD).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: qyv-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry is not installed: run scripts/install-toolchains.sh");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Reads the log until the end, so the registry never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on ") {
                    let addr: String = line[i + 13..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("docker-registry did not start listening within 30 s");
        Registry { child, addr, dir }
    }

    /// `ADDR/REPOSITORY:TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.addr)
    }

    /// Where the registry keeps the blob with this sha256 hex.
    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
