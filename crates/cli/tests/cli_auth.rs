//! Tokens and TLS through the real binary: `runnel token create`, then every kind of command
//! (tenant, topic, schema over the REST API, produce, consume) against a `runnel serve` child
//! with authentication and TLS on, with `--token` / `RUNNEL_TOKEN` and `--ca-cert`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{certificates, error, run_with_input, stdout as ok, Server, RUNNEL};
use serde_json::Value;

const USER_AVSC: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;

/// Runs the binary against `server` trusting `ca`, with `token` (if any) in RUNNEL_TOKEN.
async fn runnel(server: &Server, ca: &Path, token: Option<&str>, args: &[&str], stdin: &str) -> Output {
    let mut cmd = server.cli();
    cmd.args(args).env("RUNNEL_CA_CERT", ca);
    if let Some(t) = token {
        cmd.env("RUNNEL_TOKEN", t);
    }
    run_with_input(cmd, stdin).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_tls_through_every_kind_of_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "a shared secret of well over thirty-two bytes\n").unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let secret = secret.to_str().unwrap();
    let server = Server::start(&[
        "--auth-secret-file",
        secret,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(server.grpc_url().starts_with("https://"));

    // Tokens, made offline; a bad grant is refused with its rule.
    let token = |subject: &str, role: &str| {
        let out = std::process::Command::new(RUNNEL)
            .args(["token", "create", "--subject", subject, "--role", role, "--expires", "10m"])
            .args(["--secret-file", secret])
            .output()
            .expect("runnel runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let root = token("root", "superuser");
    let acme = token("acme-admin", "admin:acme");
    let bad = std::process::Command::new(RUNNEL)
        .args(["token", "create", "--subject", "x", "--role", "produce:acme", "--secret-file", secret])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("produce takes TENANT/NAMESPACE/TOPIC"));

    // No token: refused, on gRPC and on the REST API.
    let e = error(&runnel(&server, &ca, None, &["topic", "list"], "").await);
    assert!(e.contains("authentication required"), "{e}");
    let e = error(&runnel(&server, &ca, None, &["schema", "list"], "").await);
    assert!(e.contains("40101"), "{e}");

    // The superuser sets up two tenants; each tenant admin then works in its own.
    for tenant in ["acme", "beta"] {
        ok(&runnel(&server, &ca, Some(&root), &["tenant", "create", tenant], "").await);
        let ns = format!("{tenant}/default");
        ok(&runnel(&server, &ca, Some(&root), &["namespace", "create", &ns], "").await);
    }
    let avsc = dir.path().join("user.avsc");
    std::fs::write(&avsc, USER_AVSC).unwrap();
    let avsc = avsc.to_str().unwrap();
    let create = ["topic", "create", "acme/default/users", "--schema", avsc];
    ok(&runnel(&server, &ca, Some(&acme), &create, "").await);
    let create = ["topic", "create", "beta/default/users", "--schema", avsc];
    ok(&runnel(&server, &ca, Some(&root), &create, "").await);

    // acme's admin sees and uses only acme's topics and subjects.
    let listed = ok(&runnel(&server, &ca, Some(&acme), &["topic", "list"], "").await);
    assert!(listed.contains("acme/default/users") && !listed.contains("beta"), "{listed}");
    let all = ok(&runnel(&server, &ca, Some(&root), &["topic", "list"], "").await);
    assert!(all.contains("beta/default/users"), "{all}");
    let e = error(&runnel(&server, &ca, Some(&acme), &["topic", "describe", "beta/default/users"], "").await);
    assert!(e.contains("permission denied"), "{e}");
    let subjects = ok(&runnel(&server, &ca, Some(&acme), &["schema", "list", "--output", "json"], "").await);
    let subjects: Value = serde_json::from_str(&subjects).unwrap();
    assert_eq!(subjects, serde_json::json!([":.acme:users-value"]), "{subjects}");

    let datum = r#"{"name":"ada","age":36}"#;
    ok(&runnel(&server, &ca, Some(&acme), &["produce", "acme/default/users"], datum).await);
    let e = error(&runnel(&server, &ca, Some(&acme), &["produce", "beta/default/users"], datum).await);
    assert!(e.contains("permission denied"), "{e}");
    let consume =
        ["consume", "acme/default/users", "--from", "earliest", "--max", "1", "--timeout-ms", "5000"];
    let records = ok(&runnel(&server, &ca, Some(&acme), &consume, "").await);
    assert!(records.contains("\"ada\""), "{records}");

    // Without the CA the server's certificate is not trusted.
    let out = tokio::process::Command::new(RUNNEL)
        .args(["topic", "list", "--url", server.grpc_url(), "--token", &root])
        .env_remove("RUNNEL_CA_CERT")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "an untrusted certificate must fail");
    server.shutdown();
}
