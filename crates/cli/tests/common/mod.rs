//! Test support for the CLI's integration tests: a real `runnel serve` child on
//! free loopback ports over a temporary data directory (started, SIGKILLed,
//! restarted on the same directory, stopped with SIGTERM), the `runnel` binary
//! run against it, and the Avro bytes of the records the crash tests write.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// The `runnel` binary under test.
pub const RUNNEL: &str = env!("CARGO_BIN_EXE_runnel");

/// A `runnel serve` child. Dropping it SIGKILLs it; the data directory goes with it.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    args: Vec<String>,
    grpc_url: String,
    registry_url: String,
    /// Restart on the ports of the first start (other servers stored them).
    keep_ports: bool,
}

impl Server {
    /// Starts `runnel serve` on free ports over a new temporary directory,
    /// without the Kafka listener, with `extra` arguments (kept for restarts).
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = Server {
            child: None,
            dir,
            args: extra.iter().map(|a| (*a).to_owned()).collect(),
            grpc_url: String::new(),
            registry_url: String::new(),
            keep_ports: false,
        };
        server.spawn();
        server
    }

    /// Starts the child and reads its ready line for the URLs.
    fn spawn(&mut self) {
        let addr = |url: &str| url.rsplit("://").next().unwrap_or("127.0.0.1:0").to_owned();
        let (grpc, http) = if self.keep_ports && !self.grpc_url.is_empty() {
            (addr(&self.grpc_url), addr(&self.registry_url))
        } else {
            ("127.0.0.1:0".to_owned(), "127.0.0.1:0".to_owned())
        };
        let mut child = Command::new(RUNNEL)
            .args(["serve", "--grpc", &grpc, "--http", &http, "--kafka", "none"])
            .arg("--data")
            .arg(self.dir.path())
            .args(&self.args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn runnel serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("ready line");
        // Keep draining: a closed pipe would make the server's next print fail.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in the ready line {line:?}"))
                .to_owned()
        };
        self.grpc_url = field("grpc=");
        self.registry_url = field("http=");
        self.child = Some(child);
    }

    /// Makes restarts listen on the ports of the first start, for servers whose
    /// addresses other servers keep (geo-replication).
    pub fn keep_ports(&mut self) {
        self.keep_ports = true;
    }

    /// The broker's gRPC URL (its port changes on restart unless `keep_ports`).
    pub fn grpc_url(&self) -> &str {
        &self.grpc_url
    }

    /// The registry's REST URL.
    pub fn registry_url(&self) -> &str {
        &self.registry_url
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGKILL: no shutdown path runs. Waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same directory
    /// with the same arguments.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGTERM, as a service manager stops it; waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on the child's pid, which is ours until we wait for it.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM to runnel serve");
        child.wait().expect("runnel serve exits")
    }

    /// Stops the server with SIGTERM and asserts that it shut down cleanly.
    pub fn shutdown(mut self) {
        let status = self.stop();
        assert!(status.success(), "runnel serve stopped with {status}");
    }

    /// The `runnel` binary pointed at this server (`RUNNEL_URL`, `RUNNEL_REGISTRY_URL`).
    pub fn cli(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(RUNNEL);
        cmd.env("RUNNEL_URL", &self.grpc_url)
            .env("RUNNEL_REGISTRY_URL", &self.registry_url)
            .env_remove("RUNNEL_TOKEN")
            .env_remove("RUNNEL_CA_CERT");
        cmd
    }

    /// Runs `runnel ARGS` against this server with empty input.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, "").await
    }

    /// Runs `runnel ARGS` against this server with `stdin` as its input.
    pub async fn run_with_input(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.cli();
        cmd.args(args);
        run_with_input(cmd, stdin).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes a CA and a server certificate for 127.0.0.1/localhost into `dir`: the
/// CA's file, then the server's certificate and key files.
pub fn certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let cert = CertificateParams::new(names).unwrap().signed_by(&key, &ca).unwrap();
    let (cert_file, key_file, ca_file) = (dir.join("server.pem"), dir.join("server.key"), dir.join("ca.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, ca.as_ref().pem()).unwrap();
    (ca_file, cert_file, key_file)
}

/// A token signed with the secret in `secret_file`, for `subject` with `roles`, made
/// offline with `runnel token create`.
pub fn token(secret_file: &Path, subject: &str, roles: &[&str]) -> String {
    let mut cmd = Command::new(RUNNEL);
    cmd.args(["token", "create", "--subject", subject, "--expires", "10m", "--secret-file"]).arg(secret_file);
    for r in roles {
        cmd.args(["--role", r]);
    }
    let out = cmd.output().expect("runnel runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// How long one `runnel` command of a test may run: far past what any takes
/// in a debug build on a loaded machine, so that one that hangs fails its test
/// (and is killed) instead of holding the whole suite.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` with `stdin` as its input and collects its output; fails the
/// test, killing the command, when it runs past [`COMMAND_LIMIT`].
pub async fn run_with_input(mut cmd: tokio::process::Command, stdin: &str) -> Output {
    let mut child = cmd
        .kill_on_drop(true)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runnel starts");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).await.expect("write stdin");
    drop(input);
    match tokio::time::timeout(COMMAND_LIMIT, child.wait_with_output()).await {
        Ok(out) => out.expect("runnel runs"),
        Err(_) => panic!("{cmd:?} ran past {COMMAND_LIMIT:?}; killed"),
    }
}

/// The stdout of a command that must have succeeded.
pub fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// The stdout of a command that must have succeeded, as one JSON value.
pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).expect("JSON on stdout")
}

/// The stdout of a command that must have succeeded, one JSON value per line.
pub fn stdout_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out).lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect()
}

/// The stderr of a command that must have failed.
pub fn error(out: &Output) -> String {
    assert!(!out.status.success(), "should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The stderr of a command that must have failed with a one-line error.
pub fn one_line_error(out: &Output) -> String {
    let stderr = error(out);
    assert_eq!(stderr.lines().count(), 1, "one-line error: {stderr}");
    stderr
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Appends `v` as an Avro long (zigzag varint).
pub fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// An Avro long at the start of `b` and the bytes it took.
pub fn unzigzag(b: &[u8]) -> Option<(i64, usize)> {
    let mut raw = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1));
        }
    }
    None
}

/// The crash tests' record: `{"type":"record","name":"Tick","fields":[{"name":"producer","type":"int"},{"name":"seq","type":"long"}]}`.
pub const TICK_SCHEMA: &str = r#"{"type":"record","name":"Tick","fields":[{"name":"producer","type":"int"},{"name":"seq","type":"long"}]}"#;

/// A Confluent-framed `Tick { producer, seq }` under schema `id`.
pub fn tick(id: u32, producer: u32, seq: i64) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&id.to_be_bytes());
    zigzag(&mut v, i64::from(producer));
    zigzag(&mut v, seq);
    v
}

/// (schema id, producer, seq) of a stored `Tick`.
pub fn untick(v: &[u8]) -> (u32, u32, i64) {
    assert!(v.len() > 5 && v[0] == 0, "value is Confluent-framed");
    let id = u32::from_be_bytes([v[1], v[2], v[3], v[4]]);
    let (producer, n) = unzigzag(&v[5..]).expect("producer varint");
    let (seq, _) = unzigzag(&v[5 + n..]).expect("seq varint");
    (id, producer as u32, seq)
}
