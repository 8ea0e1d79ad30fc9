//! `runnel function ...` through the real binary against a `runnel serve` child:
//! the built-ins (`filter`, `route`, `project`) write what they should, dead-letter
//! what they cannot process, refuse bad definitions with every reason, and write
//! each output exactly once while the server is SIGKILLed under them; and a
//! stateful Rust function in its own process counts exactly once while both it
//! and the server are SIGKILLed.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{one_line_error, stdout, stdout_json, stdout_lines, Server};
use serde_json::Value;

const USER: &str = r#"{"type":"record","name":"User","fields":[
    {"name":"name","type":"string"},
    {"name":"age","type":"int"},
    {"name":"country","type":{"type":"enum","name":"Country","symbols":["NO","SE","DK"]}},
    {"name":"team","type":["null","string"],"default":null}]}"#;

const NAME_ONLY: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;

fn write_schema(server: &Server, file: &str, text: &str) -> String {
    let path = server.dir().join(file);
    std::fs::write(&path, text).expect("schema file");
    path.to_string_lossy().into_owned()
}

/// `runnel function status NAME --output json`.
async fn status(server: &Server, name: &str) -> Value {
    stdout_json(&server.run(&["function", "status", name, "--output", "json"]).await)
}

/// Waits until the function has processed `n` records and has no lag.
async fn processed(server: &Server, name: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = status(server, name).await;
        if s["processed"].as_u64() == Some(n) && s["lag"] == 0 {
            return s;
        }
        assert!(Instant::now() < deadline, "function {name} did not process {n} records: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of `topic`, as `runnel consume` prints them.
async fn read_all(server: &Server, topic: &str, max: usize) -> Vec<Value> {
    stdout_lines(&server.run(&["consume", topic, "--max", &max.to_string(), "--timeout-ms", "1500"]).await)
}

/// The server's `/metrics` text.
async fn metrics(server: &Server) -> String {
    let url = format!("{}/metrics", server.registry_url());
    reqwest::get(url).await.expect("GET /metrics").text().await.expect("metrics text")
}

fn names(records: &[Value]) -> Vec<String> {
    let mut names: Vec<String> =
        records.iter().map(|r| r["value"]["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_write_what_they_should_and_dead_letter_what_they_cannot() {
    let server = Server::start(&[]);
    let user = write_schema(&server, "user.avsc", USER);
    let name_only = write_schema(&server, "name.avsc", NAME_ONLY);
    stdout(&server.run(&["topic", "create", "users", "--partitions", "2", "--schema", &user]).await);
    stdout(&server.run(&["topic", "create", "adults", "--schema", &user]).await);
    stdout(&server.run(&["topic", "create", "names"]).await);
    let input = [
        r#"{"name":"ann","age":42,"country":"NO","team":{"string":"a"}}"#,
        r#"{"name":"bob","age":17,"country":"SE","team":null}"#,
        r#"{"name":"cid","age":30,"country":"DK","team":{"string":"b"}}"#,
        r#"{"name":"dan","age":50,"country":"SE","team":null}"#,
        r#"{"name":"eve","age":15,"country":"DK","team":{"string":"other/ns/t"}}"#,
    ];
    stdout(&server.run_with_input(&["produce", "users"], &(input.join("\n") + "\n")).await);

    let created = stdout_json(
        &server
            .run(&[
                "function",
                "create",
                "adults",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "adults",
                "--where",
                r#"age >= 18 && country != "DK""#,
                "--output",
                "json",
            ])
            .await,
    );
    assert_eq!(created["kind"], "filter");
    stdout(
        &server
            .run(&[
                "function",
                "create",
                "teams",
                "--builtin",
                "route",
                "--input",
                "users",
                "--by",
                "team",
                "--to",
                "team-{}",
            ])
            .await,
    );
    stdout(
        &server
            .run(&[
                "function",
                "create",
                "names",
                "--builtin",
                "project",
                "--input",
                "users",
                "--output",
                "names",
                "--schema",
                &name_only,
            ])
            .await,
    );

    processed(&server, "adults", 5).await;
    assert_eq!(names(&read_all(&server, "adults", 10).await), ["ann", "dan"]);

    let teams = processed(&server, "teams", 5).await;
    assert_eq!(names(&read_all(&server, "team-a", 10).await), ["ann"]);
    assert_eq!(names(&read_all(&server, "team-b", 10).await), ["cid"]);
    // No team and no default topic, or a team that would name a topic of another
    // tenant: dead-lettered, counted, and said why.
    assert_eq!(teams["failed"], 3, "{teams}");
    assert!(teams["last_error"].as_str().unwrap().contains("holds `/`"), "{teams}");
    assert_eq!(names(&read_all(&server, "teams-dlq", 10).await), ["bob", "dan", "eve"]);
    let e = one_line_error(&server.run(&["topic", "describe", "other/ns/t"]).await);
    assert!(e.contains("unknown topic") || e.contains("not found") || e.contains("no namespace"), "{e}");

    let projected = read_all(&server, "names", 10).await;
    assert_eq!(names(&projected), ["ann", "bob", "cid", "dan", "eve"]);
    for r in &projected {
        assert_eq!(r["value"].as_object().unwrap().len(), 1, "only the name: {r}");
        assert_ne!(r["schema_id"], 1, "framed with the projection's id: {r}");
    }

    // The status contract, and list and delete.
    let s = status(&server, "names").await;
    for key in ["name", "kind", "instances", "processed", "failed", "lag", "last_error"] {
        assert!(s.get(key).is_some(), "no `{key}` in {s}");
    }
    assert_eq!(s["instances"], 1);
    let listed = stdout_json(&server.run(&["function", "list", "--output", "json"]).await);
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["adults", "names", "teams"]);
    let metrics = metrics(&server).await;
    assert!(
        metrics.contains("runnel_function_failed_total{function=\"teams\",kind=\"route\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("runnel_function_processed_total{function=\"adults\",kind=\"filter\"} 5"),
        "{metrics}"
    );
    stdout(&server.run(&["function", "delete", "teams"]).await);
    let e = one_line_error(&server.run(&["function", "status", "teams"]).await);
    assert!(e.contains("no function 'teams'"), "{e}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_are_refused_with_every_reason() {
    let server = Server::start(&[]);
    let user = write_schema(&server, "user.avsc", USER);
    let needs_email = write_schema(
        &server,
        "email.avsc",
        r#"{"type":"record","name":"User","fields":[{"name":"email","type":"string"}]}"#,
    );
    stdout(&server.run(&["topic", "create", "users", "--schema", &user]).await);
    stdout(&server.run(&["topic", "create", "other", "--schema", &needs_email]).await);
    stdout(&server.run(&["topic", "create", "out", "--schema", &user]).await);
    fn create<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["function", "create"];
        all.extend_from_slice(args);
        all
    }

    let e = one_line_error(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "out",
                "--where",
                r#"agee > 1 && country == "FI""#,
            ]))
            .await,
    );
    assert!(e.contains("no field `agee`") && e.contains("\"FI\" is not a symbol"), "{e}");
    let e = one_line_error(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "out",
                "--where",
                "age >",
            ]))
            .await,
    );
    assert!(e.contains("ends where a value was expected"), "{e}");
    let e = one_line_error(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "filter",
                "--input",
                "nope",
                "--output",
                "out",
                "--where",
                "age > 1",
            ]))
            .await,
    );
    assert!(e.contains("unknown topic 'nope'"), "{e}");
    // The output's subject lacks the input's schema: records would be refused there.
    let e = one_line_error(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "other",
                "--where",
                "age > 1",
            ]))
            .await,
    );
    assert!(e.contains("lacks id 1"), "{e}");
    // A projection the input cannot be read as.
    let e = one_line_error(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "project",
                "--input",
                "users",
                "--output",
                "other",
                "--schema",
                &needs_email,
            ]))
            .await,
    );
    assert!(e.contains("cannot read every live version") && e.contains("email"), "{e}");
    let e = one_line_error(
        &server
            .run(&create(&["f", "--builtin", "route", "--input", "users", "--by", "team", "--to", "teams"]))
            .await,
    );
    assert!(e.contains("no `{}`"), "{e}");
    let e = one_line_error(
        &server.run(&create(&["f", "--builtin", "filter", "--input", "users", "--by", "x"])).await,
    );
    assert!(e.contains("needs --output") || e.contains("does not take --by"), "{e}");

    stdout(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "out",
                "--where",
                "age > 1",
            ]))
            .await,
    );
    let e = one_line_error(
        &server
            .run(&create(&[
                "f",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "out",
                "--where",
                "age > 2",
            ]))
            .await,
    );
    assert!(e.contains("already exists"), "{e}");
    let e = one_line_error(
        &server
            .run(&create(&[
                "a b",
                "--builtin",
                "filter",
                "--input",
                "users",
                "--output",
                "out",
                "--where",
                "true",
            ]))
            .await,
    );
    assert!(e.contains("must be 1 to 200"), "{e}");
    server.shutdown();
}

/// Effectively once: records produced in rounds while the server is SIGKILLed
/// between and during the function's turns; afterwards the output holds every
/// input exactly once, and the function resumed after each restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_input_is_written_exactly_once_across_server_kills() {
    let mut server = Server::start(&[]);
    let tick = write_schema(
        &server,
        "tick.avsc",
        r#"{"type":"record","name":"Tick","fields":[{"name":"round","type":"int"},{"name":"seq","type":"long"}]}"#,
    );
    stdout(&server.run(&["topic", "create", "ticks", "--partitions", "2", "--schema", &tick]).await);
    stdout(&server.run(&["topic", "create", "even", "--schema", &tick]).await);
    stdout(
        &server
            .run(&[
                "function",
                "create",
                "evens",
                "--builtin",
                "filter",
                "--input",
                "ticks",
                "--output",
                "even",
                "--where",
                "round >= 0",
            ])
            .await,
    );
    // CI: 6 kills over 3 000 records; scripts/function-crash-loop.sh: many more.
    let env =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (rounds, per_round) = (env("FUNCTION_KILLS", 6), env("FUNCTION_RECORDS_PER_KILL", 500));
    for round in 0..rounds {
        let lines: String = (0..per_round).map(|s| format!("{{\"round\":{round},\"seq\":{s}}}\n")).collect();
        stdout(&server.run_with_input(&["produce", "ticks"], &lines).await);
        // Kill at a different moment of the function's work each round.
        tokio::time::sleep(Duration::from_millis((round % 8) * 40)).await;
        server.restart();
    }
    let total = rounds * per_round;
    // The restarted server's counters start at zero; wait for the lag to reach zero.
    let deadline = Instant::now() + Duration::from_secs(60 + total / 1000);
    while status(&server, "evens").await["lag"] != 0 {
        assert!(Instant::now() < deadline, "the function did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = read_all(&server, "even", total as usize + 10).await;
    let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
    for r in &out {
        let key = (r["value"]["round"].as_u64().unwrap(), r["value"]["seq"].as_u64().unwrap());
        *seen.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(k, _)| *k).collect();
    assert!(twice.is_empty(), "written more than once: {:?}", &twice[..twice.len().min(10)]);
    assert_eq!(out.len() as u64, total, "{} of {total} inputs written", out.len());
    server.shutdown();
}

const CLICK: &str = r#"{"type":"record","name":"Click","namespace":"com.example.fn","fields":[
    {"name":"user","type":"string"},{"name":"n","type":"long"}]}"#;
const TOTAL: &str = r#"{"type":"record","name":"Total","namespace":"com.example.fn","fields":[
    {"name":"user","type":"string"},{"name":"n","type":"long"},{"name":"count","type":"long"}]}"#;

/// A process of `examples/running_totals.rs` (a stateful Rust function) against
/// `server`; dropping it SIGKILLs it.
struct FunctionProcess(std::process::Child);

impl FunctionProcess {
    fn start(server: &Server) -> FunctionProcess {
        let example = std::path::Path::new(common::RUNNEL)
            .parent()
            .expect("target dir")
            .join("examples/running_totals");
        assert!(
            example.exists(),
            "{} is missing: `cargo test --workspace` builds it (or `cargo build --example running_totals`)",
            example.display()
        );
        let child = std::process::Command::new(example)
            .env("RUNNEL_URL", server.grpc_url())
            .env("RUST_LOG", "error")
            .spawn()
            .expect("spawn the function process");
        FunctionProcess(child)
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stateful effectively-once Rust function (its own process, counting clicks
/// per user and emitting running totals): SIGKILLed every round, the server
/// SIGKILLed every other round; afterwards every click produced exactly one
/// total and each user's totals run 1, 2, 3, … in order. CI: 6 rounds of 500;
/// `scripts/function-crash-loop.sh rust` runs 40 rounds of 2 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_rust_function_counts_exactly_once_across_kills_of_itself_and_the_server() {
    let mut server = Server::start(&[]);
    let click = write_schema(&server, "click.avsc", CLICK);
    let total = write_schema(&server, "total.avsc", TOTAL);
    stdout(&server.run(&["topic", "create", "clicks", "--partitions", "2", "--schema", &click]).await);
    stdout(&server.run(&["topic", "create", "totals", "--schema", &total]).await);
    let env =
        |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (rounds, per_round) = (env("FUNCTION_KILLS", 6), env("FUNCTION_RECORDS_PER_KILL", 500));
    let users = 7;
    let mut function = FunctionProcess::start(&server);
    for round in 0..rounds {
        let lines: String = (round * per_round..(round + 1) * per_round)
            .map(|n| format!("{{\"user\":\"u{}\",\"n\":{n}}}\n", n % users))
            .collect();
        stdout(&server.run_with_input(&["produce", "clicks", "--key-field", "user"], &lines).await);
        // Kill at a different moment of the function's work each round.
        tokio::time::sleep(Duration::from_millis(100 + (round % 8) * 60)).await;
        drop(function);
        if round % 2 == 1 {
            server.restart();
        }
        function = FunctionProcess::start(&server);
    }
    let total = rounds * per_round;
    let deadline = Instant::now() + Duration::from_secs(90 + total / 500);
    let mut out = Vec::new();
    while (out.len() as u64) < total {
        assert!(Instant::now() < deadline, "{} of {total} totals after the deadline", out.len());
        tokio::time::sleep(Duration::from_millis(500)).await;
        out = read_all(&server, "totals", total as usize + 10).await;
    }
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut per_user: HashMap<String, Vec<u64>> = HashMap::new();
    for r in &out {
        *seen.entry(r["value"]["n"].as_u64().unwrap()).or_default() += 1;
        let user = r["value"]["user"].as_str().unwrap().to_owned();
        per_user.entry(user).or_default().push(r["value"]["count"].as_u64().unwrap());
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(k, _)| *k).collect();
    assert!(twice.is_empty(), "clicks counted twice: {:?}", &twice[..twice.len().min(10)]);
    assert_eq!(out.len() as u64, total);
    for (user, counts) in per_user {
        let expected = (0..total).filter(|n| format!("u{}", n % users) == user).count() as u64;
        assert_eq!(counts, (1..=expected).collect::<Vec<_>>(), "running totals of {user}");
    }
    // The server lists the function and its instance.
    let s = status(&server, "running-totals").await;
    assert_eq!(
        (s["kind"].as_str(), s["guarantee"].as_str()),
        (Some("rust"), Some("effectively-once")),
        "{s}"
    );
    drop(function);
    server.shutdown();
}
