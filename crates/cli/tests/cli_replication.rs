//! Geo-replication between real `runnel serve` processes on loopback: records
//! produced on one cluster reach the others exactly once, in order per partition,
//! decodable with the remote's registry, across SIGKILLs of either side; active-active
//! meshes of three end with the union and nothing comes back; a diverged remote
//! subject pauses replication with the registry's reasons until it is fixed; bad
//! settings are refused with clear errors. The long kill loop is
//! `scripts/replication-crash-loop.sh`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{error, stdout, stdout_json, stdout_lines, Server};

const USER_V1: &str = r#"{"type":"record","name":"U","namespace":"t","fields":[{"name":"n","type":"long"}]}"#;
const USER_V2: &str = r#"{"type":"record","name":"U","namespace":"t","fields":[{"name":"n","type":"long"},{"name":"tag","type":"string","default":"v1"}]}"#;

fn cluster(name: &str) -> Server {
    let mut s = Server::start(&["--cluster", name]);
    s.keep_ports();
    s
}

/// Every cluster knows every other, and `public/default` is replicated between all.
async fn mesh(clusters: &[(&str, &Server)]) {
    for (_, here) in clusters {
        for (name, there) in clusters {
            if std::ptr::eq(*here, *there) {
                continue;
            }
            let out = here
                .run(&[
                    "cluster",
                    "add",
                    name,
                    "--url",
                    there.grpc_url(),
                    "--registry-url",
                    there.registry_url(),
                ])
                .await;
            assert!(out.status.success(), "cluster add {name}: {}", error(&out));
        }
    }
    let names: Vec<&str> = clusters.iter().map(|(n, _)| *n).collect();
    for (_, here) in clusters {
        let out =
            here.run(&["namespace", "replication", "public/default", "--clusters", &names.join(",")]).await;
        assert!(out.status.success(), "namespace replication: {}", error(&out));
    }
}

/// The topic's records as (partition → values of `n` in offset order), each with its header-less
/// decoded value (decoding uses the server's own registry).
async fn records(server: &Server, topic: &str) -> BTreeMap<u32, Vec<i64>> {
    read_all(server.cli(), topic).await
}

/// [`records`] with `cmd`, the CLI pointed at a server (with a token, say).
async fn read_all(mut cmd: tokio::process::Command, topic: &str) -> BTreeMap<u32, Vec<i64>> {
    cmd.args(["consume", topic, "--from", "earliest", "--timeout-ms", "800"]);
    let out = common::run_with_input(cmd, "").await;
    let mut by_partition: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    if !out.status.success() {
        return by_partition;
    }
    for r in stdout_lines(&out) {
        let p = r["partition"].as_u64().expect("partition") as u32;
        by_partition.entry(p).or_default().push(r["value"]["n"].as_i64().expect("n"));
    }
    by_partition
}

/// Waits until the first link of `server`'s status is in `state` (or 30 s pass), returning it.
async fn wait_link(server: &Server, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = server.run(&["replication", "status", "--output", "json"]).await;
        let link = stdout_json(&out)["links"][0].clone();
        if link["state"] == state || Instant::now() > deadline {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn total(r: &BTreeMap<u32, Vec<i64>>) -> usize {
    r.values().map(Vec::len).sum()
}

async fn produce(server: &Server, topic: &str, from: i64, to: i64) -> bool {
    let input: String = (from..to).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    server.run_with_input(&["produce", topic], &input).await.status.success()
}

/// Waits until `server` holds `want` records of `topic` (or 40 s pass), returning what it holds.
async fn wait_for(server: &Server, topic: &str, want: usize) -> BTreeMap<u32, Vec<i64>> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = records(server, topic).await;
        if total(&r) >= want || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn assert_no_duplicates(r: &BTreeMap<u32, Vec<i64>>) {
    let mut all: Vec<i64> = r.values().flatten().copied().collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "duplicates among {n} records");
}

async fn create_topic(server: &Server, topic: &str, schema: &std::path::Path, partitions: &str) {
    let out = server
        .run(&["topic", "create", topic, "--schema", schema.to_str().unwrap(), "--partitions", partitions])
        .await;
    assert!(out.status.success(), "topic create: {}", error(&out));
}

fn schema_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_exactly_once_across_sigkills_of_either_side() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let mut a = cluster("east");
    let mut b = cluster("west");
    mesh(&[("east", &a), ("west", &b)]).await;
    create_topic(&a, "orders", &v1, "2").await;

    // Produce in rounds; between rounds SIGKILL one side at a random moment of replication.
    let mut produced = 0i64;
    let seed = common::now_ms() as u64;
    // Six rounds here; scripts/replication-crash-loop.sh asks for many more.
    let rounds: u64 =
        std::env::var("RUNNEL_REPLICATION_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    for round in 0..rounds {
        assert!(produce(&a, "orders", produced, produced + 300).await, "produce round {round}");
        produced += 300;
        let jitter =
            (seed.wrapping_mul(6364136223846793005).wrapping_add(round.wrapping_mul(1442695040888963407))
                >> 33)
                % 300;
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        if round % 2 == 0 {
            b.kill();
            // Keep the remote down a while: the origin keeps serving its producers.
            assert!(
                produce(&a, "orders", produced, produced + 100).await,
                "produce while the remote is down"
            );
            produced += 100;
            b.restart();
        } else {
            a.restart();
        }
    }
    let origin = records(&a, "orders").await;
    assert_eq!(total(&origin), produced as usize);
    let remote = wait_for(&b, "orders", produced as usize).await;
    assert_eq!(remote, origin, "the remote holds exactly the origin's records, in order per partition");
    assert_no_duplicates(&remote);

    // Records that came from east are not sent back: east still holds exactly what it produced.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(records(&a, "orders").await, origin);

    let status = b.run(&["replication", "status", "--output", "json"]).await;
    assert!(status.status.success(), "{}", error(&status));
    let status = a.run(&["replication", "status", "--output", "json"]).await;
    let links = stdout_json(&status);
    assert_eq!(links["local"], "east");
    assert_eq!(links["links"][0]["topic"], "orders");
    assert_eq!(links["links"][0]["remote"], "west");
    assert_eq!(links["links"][0]["lag_records"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn three_clusters_active_active_with_schema_evolution() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let v2 = schema_file(&tmp, "v2.avsc", USER_V2);
    let (a, b, c) = (cluster("a"), cluster("b"), cluster("c"));
    mesh(&[("a", &a), ("b", &b), ("c", &c)]).await;
    create_topic(&a, "events", &v1, "1").await;
    // The topic appears on the others, created like the origin's.
    let deadline = Instant::now() + Duration::from_secs(20);
    for s in [&b, &c] {
        while !s.run(&["topic", "describe", "events"]).await.status.success() {
            assert!(Instant::now() < deadline, "topic not created at the remote");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(produce(&a, "events", 0, 100).await);
    assert!(produce(&b, "events", 1000, 1100).await);
    assert!(produce(&c, "events", 2000, 2100).await);
    // The schema evolves on the origin during replication.
    let out = a.run(&["schema", "register", "events-value", v2.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", error(&out));
    let input: String = (100..150).map(|n| format!("{{\"n\":{n},\"tag\":\"v2\"}}\n")).collect();
    let out = a.run_with_input(&["produce", "events"], &input).await;
    assert!(out.status.success(), "{}", error(&out));
    for s in [&a, &b, &c] {
        let r = wait_for(s, "events", 350).await;
        assert_eq!(total(&r), 350, "every cluster ends with the union");
        assert_no_duplicates(&r);
    }
    // b's consumers read old and new versions with b's registry.
    let out = b.run(&["consume", "events", "--from", "earliest", "--timeout-ms", "800"]).await;
    let tags: Vec<String> = stdout_lines(&out)
        .iter()
        .filter(|r| r["value"]["n"].as_i64().is_some_and(|n| (100..150).contains(&n)))
        .map(|r| r["value"]["tag"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(tags.len(), 50);
    assert!(tags.iter().all(|t| t == "v2"));
    // Nothing came back: after a while the counts are the same.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for s in [&a, &b, &c] {
        assert_eq!(total(&records(s, "events").await), 350);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_diverged_remote_subject_pauses_until_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let other = schema_file(
        &tmp,
        "other.avsc",
        r#"{"type":"record","name":"U","namespace":"t","fields":[{"name":"n","type":"string"}]}"#,
    );
    let (a, b) = (cluster("one"), cluster("two"));
    // The remote's subject went its own way before replication was set up.
    create_topic(&b, "d", &other, "1").await;
    create_topic(&a, "d", &v1, "1").await;
    mesh(&[("one", &a), ("two", &b)]).await;
    assert!(produce(&a, "d", 0, 20).await);
    let link = wait_link(&a, "paused").await;
    assert_eq!(link["state"], "paused", "{link}");
    let reason = link["last_error"].as_str().unwrap_or_default();
    assert!(reason.contains("d-value") && reason.contains("refused"), "{reason}");
    assert_eq!(total(&records(&b, "d").await), 0, "nothing skipped, nothing appended");

    // Fixed at the remote: its subject accepts anything; replication resumes.
    let out = b.run(&["schema", "config", "d-value", "--level", "NONE"]).await;
    assert!(out.status.success(), "{}", error(&out));
    let r = wait_for(&b, "d", 20).await;
    assert_eq!(r.get(&0).map(Vec::len), Some(20));
    assert_eq!(r[&0], (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cluster_settings_are_refused_with_reasons() {
    let (a, b) = (cluster("alpha"), cluster("beta"));
    // Its own name.
    let out =
        a.run(&["cluster", "add", "alpha", "--url", b.grpc_url(), "--registry-url", b.registry_url()]).await;
    assert!(!out.status.success());
    assert!(error(&out).contains("own name"), "{}", error(&out));
    // A name the remote does not answer to.
    let out =
        a.run(&["cluster", "add", "gamma", "--url", b.grpc_url(), "--registry-url", b.registry_url()]).await;
    assert!(error(&out).contains("calls itself 'beta'"), "{}", error(&out));
    // Itself under another name: a loop.
    let out =
        a.run(&["cluster", "add", "beta", "--url", a.grpc_url(), "--registry-url", a.registry_url()]).await;
    assert!(error(&out).contains("loop"), "{}", error(&out));
    // Unreachable.
    let out = a
        .run(&[
            "cluster",
            "add",
            "beta",
            "--url",
            "http://127.0.0.1:1",
            "--registry-url",
            "http://127.0.0.1:1",
        ])
        .await;
    assert!(error(&out).contains("unreachable"), "{}", error(&out));
    // Unknown cluster, and a list without this cluster.
    let out = a.run(&["namespace", "replication", "public/default", "--clusters", "alpha,nowhere"]).await;
    assert!(error(&out).contains("unknown cluster 'nowhere'"), "{}", error(&out));
    let out =
        a.run(&["cluster", "add", "beta", "--url", b.grpc_url(), "--registry-url", b.registry_url()]).await;
    assert!(out.status.success(), "{}", error(&out));
    let out = a.run(&["namespace", "replication", "public/default", "--clusters", "beta"]).await;
    assert!(error(&out).contains("must include this one ('alpha')"), "{}", error(&out));
    // A name clash with another URL.
    let out = a
        .run(&[
            "cluster",
            "add",
            "beta",
            "--url",
            "http://127.0.0.1:2",
            "--registry-url",
            "http://127.0.0.1:2",
        ])
        .await;
    assert!(error(&out).contains("already known"), "{}", error(&out));
    // Removing a cluster a namespace uses.
    let out = a.run(&["namespace", "replication", "public/default", "--clusters", "alpha,beta"]).await;
    assert!(out.status.success(), "{}", error(&out));
    let out = a.run(&["cluster", "remove", "beta"]).await;
    assert!(error(&out).contains("replicates to cluster 'beta'"), "{}", error(&out));
    let out = a.run(&["cluster", "list"]).await;
    assert!(stdout(&out).contains("beta"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_group_fails_over_without_missing_a_record() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let (a, b) = (cluster("primary"), cluster("standby"));
    mesh(&[("primary", &a), ("standby", &b)]).await;
    create_topic(&a, "jobs", &v1, "2").await;
    for round in 0..5 {
        assert!(produce(&a, "jobs", round * 100, round * 100 + 100).await);
    }
    // The group reads part of the topic on the primary, committing as it goes.
    let out = a
        .run(&[
            "consume",
            "jobs",
            "--group",
            "workers",
            "--from",
            "earliest",
            "--max",
            "230",
            "--timeout-ms",
            "3000",
        ])
        .await;
    assert!(out.status.success(), "{}", error(&out));
    let seen: Vec<i64> = stdout_lines(&out).iter().map(|r| r["value"]["n"].as_i64().unwrap()).collect();
    assert_eq!(seen.len(), 230);
    // Replication catches up and carries the group's offsets; then the primary is lost.
    wait_for(&b, "jobs", 500).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(a);
    let out =
        b.run(&["consume", "jobs", "--group", "workers", "--from", "earliest", "--timeout-ms", "3000"]).await;
    assert!(out.status.success(), "{}", error(&out));
    let after: Vec<i64> = stdout_lines(&out).iter().map(|r| r["value"]["n"].as_i64().unwrap()).collect();
    let mut all: Vec<i64> = seen.iter().chain(after.iter()).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (0..500).collect::<Vec<_>>(), "no record missed after failing over");
    let redelivered = seen.iter().filter(|n| after.contains(n)).count();
    eprintln!(
        "failover: {} records consumed on the primary, {} on the standby, {redelivered} delivered again",
        seen.len(),
        after.len()
    );
    assert!(
        after.len() < 500 && redelivered < seen.len(),
        "the standby resumed near where the primary stopped, not at the start: {redelivered} again"
    );
}

/// `cluster add secured` on `a` for `b`, with `token` and the CA of `b`'s certificate.
async fn add_secured(a: &Server, b: &Server, token: &str, ca: &str) -> std::process::Output {
    a.run(&[
        "cluster",
        "add",
        "secured",
        "--url",
        b.grpc_url(),
        "--registry-url",
        b.registry_url(),
        "--token",
        token,
        "--ca-cert",
        ca,
    ])
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn replicates_to_a_secured_cluster_with_its_token_and_pauses_without_a_grant() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, "a shared secret of well over thirty-two bytes\n").unwrap();
    let (ca, cert, key) = common::certificates(tmp.path());
    let a = cluster("open");
    let b = Server::start(&[
        "--cluster",
        "secured",
        "--auth-secret-file",
        secret.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(b.grpc_url().starts_with("https://"));
    let root = common::token(&secret, "root", &["superuser"]);
    let at_b = |token: &str| {
        let mut cmd = b.cli();
        cmd.env("RUNNEL_TOKEN", token).env("RUNNEL_CA_CERT", &ca);
        cmd
    };
    let mut create = at_b(&root);
    create.args(["topic", "create", "vault", "--schema", v1.to_str().unwrap(), "--partitions", "2"]);
    let out = common::run_with_input(create, "").await;
    assert!(out.status.success(), "{}", error(&out));

    // The replicator's first token reads topics and writes schemas there, but may not produce.
    let narrow = common::token(&secret, "replicator", &["consume:public/default/*", "schema-write:public"]);
    let ca_path = ca.to_str().unwrap();
    let out = add_secured(&a, &b, &narrow, ca_path).await;
    assert!(out.status.success(), "cluster add over TLS with a token: {}", error(&out));
    let out = a.run(&["namespace", "replication", "public/default", "--clusters", "open,secured"]).await;
    assert!(out.status.success(), "{}", error(&out));
    create_topic(&a, "vault", &v1, "2").await;
    assert!(produce(&a, "vault", 0, 200).await);

    let link = wait_link(&a, "paused").await;
    assert_eq!(link["state"], "paused", "{link}");
    let reason = link["last_error"].as_str().unwrap_or_default();
    assert!(reason.contains("permission denied") && reason.contains("'secured'"), "{reason}");
    assert_eq!(total(&read_all(at_b(&root), "vault").await), 0, "nothing appended without the grant");

    // Fixed: the cluster is added again with a token that has the grants; the link
    // restarts with it and catches up, exactly once.
    let full = common::token(&secret, "replicator", &["admin:public/default"]);
    let out = add_secured(&a, &b, &full, ca_path).await;
    assert!(out.status.success(), "{}", error(&out));
    let origin = records(&a, "vault").await;
    let deadline = Instant::now() + Duration::from_secs(40);
    let remote = loop {
        let r = read_all(at_b(&root), "vault").await;
        if total(&r) >= 200 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(remote, origin);
    assert_no_duplicates(&remote);
    let link = wait_link(&a, "running").await;
    assert_eq!(link["state"], "running", "{link}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_overrides_its_namespace_replication() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let (a, b) = (cluster("left"), cluster("right"));
    mesh(&[("left", &a), ("right", &b)]).await;
    // Kept out of its replicated namespace before it exists.
    let out = a.run(&["topic", "replication", "private", "--none"]).await;
    assert!(stdout(&out).contains("not replicated (its own setting)"), "{}", error(&out));
    // A namespace that is not replicated, with one topic of it replicated on its own.
    for s in [&a, &b] {
        let out = s.run(&["namespace", "create", "public/solo"]).await;
        assert!(out.status.success(), "{}", error(&out));
    }
    let out = a.run(&["topic", "replication", "public/solo/picked", "--clusters", "left,right"]).await;
    assert!(stdout(&out).contains("replicated between left,right (its own setting)"), "{}", error(&out));
    for t in ["private", "shared", "public/solo/picked", "public/solo/other"] {
        create_topic(&a, t, &v1, "1").await;
        assert!(produce(&a, t, 0, 50).await);
    }
    assert_eq!(total(&wait_for(&b, "shared", 50).await), 50);
    assert_eq!(total(&wait_for(&b, "public/solo/picked", 50).await), 50);
    for t in ["private", "public/solo/other"] {
        assert!(!b.run(&["topic", "describe", t]).await.status.success(), "{t} must stay on its cluster");
    }
    let out = a.run(&["topic", "replication", "shared", "--output", "json"]).await;
    let shown = stdout_json(&out);
    assert_eq!(shown["override"], false, "{shown}");
    assert_eq!(shown["clusters"], serde_json::json!(["left", "right"]), "{shown}");

    // Back to its namespace's setting: the topic follows it, from its first record.
    let out = a.run(&["topic", "replication", "private", "--inherit"]).await;
    assert!(stdout(&out).contains("namespace public/default's setting"), "{}", error(&out));
    let r = wait_for(&b, "private", 50).await;
    assert_eq!(r.get(&0), Some(&(0..50).collect::<Vec<_>>()));

    // Bad input, and a cluster an override uses cannot be removed.
    let out = a.run(&["topic", "replication", "shared", "--clusters", "left,nowhere"]).await;
    assert!(error(&out).contains("unknown cluster 'nowhere'"), "{}", error(&out));
    let out = a.run(&["topic", "replication", "nowhere/x/y", "--none"]).await;
    assert!(error(&out).contains("no namespace 'nowhere/x'"), "{}", error(&out));
    let out = a.run(&["namespace", "replication", "public/default", "--clusters", ""]).await;
    assert!(out.status.success(), "{}", error(&out));
    let out = a.run(&["cluster", "remove", "right"]).await;
    assert!(
        error(&out).contains("topic 'public/solo/picked' replicates to cluster 'right'"),
        "{}",
        error(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_subscription_fails_over_without_missing_a_record() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let (a, b) = (cluster("main"), cluster("spare"));
    mesh(&[("main", &a), ("spare", &b)]).await;
    create_topic(&a, "tasks", &v1, "2").await;
    for round in 0..5 {
        assert!(produce(&a, "tasks", round * 100, round * 100 + 100).await);
    }
    let consume = |server: &Server, max: Option<&'static str>| {
        let mut args = vec!["consume", "tasks", "--subscription", "work", "--subscription-type", "shared"];
        args.extend(["--from", "earliest", "--timeout-ms", "3000"]);
        if let Some(m) = max {
            args.extend(["--max", m]);
        }
        let mut cmd = server.cli();
        cmd.args(args);
        common::run_with_input(cmd, "")
    };
    // The subscription takes part of the topic on the main cluster, acknowledging each record.
    let out = consume(&a, Some("230")).await;
    assert!(out.status.success(), "{}", error(&out));
    let seen: Vec<i64> = stdout_lines(&out).iter().map(|r| r["value"]["n"].as_i64().unwrap()).collect();
    assert_eq!(seen.len(), 230);
    // Replication catches up and carries the subscription's position; then the main cluster is lost.
    wait_for(&b, "tasks", 500).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(a);
    let out = consume(&b, None).await;
    assert!(out.status.success(), "{}", error(&out));
    let after: Vec<i64> = stdout_lines(&out).iter().map(|r| r["value"]["n"].as_i64().unwrap()).collect();
    let mut all: Vec<i64> = seen.iter().chain(after.iter()).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (0..500).collect::<Vec<_>>(), "no record missed after failing over");
    let redelivered = seen.iter().filter(|n| after.contains(n)).count();
    eprintln!(
        "subscription failover: {} records consumed on the main cluster, {} on the spare, {redelivered} delivered again",
        seen.len(),
        after.len()
    );
    assert!(
        after.len() < 500 && redelivered < seen.len(),
        "the spare resumed near where the main cluster stopped, not at the start: {redelivered} again"
    );
}

/// A backlog of several batches (more than one read of the log) is on the way when the
/// origin is SIGKILLed mid-drain, so batches in flight are sent again after the restart:
/// the remote answers those it has as duplicates and ends with exactly the origin's records.
#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_in_flight_survives_a_sigkill_of_the_origin_mid_drain() {
    let tmp = tempfile::tempdir().unwrap();
    let v1 = schema_file(&tmp, "v1.avsc", USER_V1);
    let mut a = cluster("src");
    let mut b = cluster("dst");
    mesh(&[("src", &a), ("dst", &b)]).await;
    create_topic(&a, "bulk", &v1, "1").await;
    assert!(produce(&a, "bulk", 0, 10).await);
    assert_eq!(total(&wait_for(&b, "bulk", 10).await), 10);
    // The remote goes down while the origin takes a backlog of a few MiB of log.
    b.kill();
    const N: i64 = 150_000;
    assert!(produce(&a, "bulk", 10, N).await);
    b.restart();
    // SIGKILL the origin while it drains (it sends up to four batches at once): the
    // figures printed show where (acknowledged before, appended after; duplicates the
    // remote recognised are in neither).
    let deadline = Instant::now() + Duration::from_secs(30);
    let before_kill = loop {
        let out = a.run(&["replication", "status", "--output", "json"]).await;
        let replicated = stdout_json(&out)["links"][0]["replicated"].as_u64().unwrap_or(0);
        // The first batch of the backlog is at the remote: the next ones are on the way.
        if replicated > 10 || Instant::now() > deadline {
            break replicated;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    a.kill();
    a.restart();
    let remote = wait_for(&b, "bulk", N as usize).await;
    let out = a.run(&["replication", "status", "--output", "json"]).await;
    let after_restart = stdout_json(&out)["links"][0]["replicated"].as_u64().unwrap_or(0);
    eprintln!(
        "backlog: {before_kill} records acknowledged before the SIGKILL, {after_restart} appended after the restart"
    );
    assert_eq!(remote.get(&0).map(Vec::len), Some(N as usize), "exactly the origin's records");
    assert_eq!(remote[&0], (0..N).collect::<Vec<_>>(), "in order, no duplicates");
}
