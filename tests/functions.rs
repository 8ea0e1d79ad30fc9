//! Rust functions (`runnel::function`) against a real server: a stateful
//! effectively-once function whose instances are killed and whose server restarts
//! yields exactly one output per input with totals equal to the input's counts;
//! instances share the input by key and a killed one's keys move without breaking
//! per-key order; at-least-once loses nothing; failing and panicking records are
//! retried then dead-lettered; refusals at start give every reason; windows; and
//! the server lists the function's instances.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{next_within, TestServer, PATIENCE};
use runnel::function::{Context, FunctionError, Guarantee, Window, WindowSpec};
use runnel::{Avro, Client, ClientError, SendOptions};

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.fn")]
struct Click {
    user: String,
    n: i64,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.fn")]
struct Total {
    user: String,
    n: i64,
    count: i64,
}

/// Counts clicks per user in state and emits each running total.
fn count(click: Click, ctx: &mut Context<'_>) -> Result<Option<Total>, FunctionError> {
    let mut counts = ctx.state::<String, i64>()?;
    let count = counts.get(&click.user)?.unwrap_or(0) + 1;
    counts.put(&click.user, &count);
    ctx.count("clicks", 1);
    Ok(Some(Total { user: click.user, n: click.n, count }))
}

async fn topics(t: &TestServer, partitions: u32) {
    t.topic_with_schema("clicks", partitions, Click::schema()).await;
    t.topic_with_schema("totals", partitions, Total::schema()).await;
}

async fn produce(client: &Client, from: i64, to: i64, users: i64) {
    let p = client.producer::<Click>("clicks").key(|c: &Click| c.user.clone()).create().await.unwrap();
    let sends: Vec<_> = (from..to).map(|n| p.send(&Click { user: format!("u{}", n % users), n })).collect();
    for s in futures::future::join_all(sends).await {
        s.expect("click stored");
    }
}

/// Every committed output, read until `want` arrived (or PATIENCE passed).
async fn read_totals(client: &Client, want: usize) -> Vec<Total> {
    let mut c = client.consumer::<Total>("totals").subscribe().await.unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while out.len() < want && tokio::time::Instant::now() < deadline {
        if let Some(m) = next_within(Duration::from_millis(500), &mut c).await {
            out.push(m.into_value());
        }
    }
    // Anything more would be a duplicate: give it a moment to show.
    while let Some(m) = next_within(Duration::from_millis(300), &mut c).await {
        out.push(m.into_value());
    }
    out
}

/// Checks each input produced exactly one output and the totals are the counts.
fn check_exactly_once(out: &[Total], inputs: i64, users: i64) {
    let mut seen: HashMap<i64, &Total> = HashMap::new();
    for t in out {
        assert!(seen.insert(t.n, t).is_none(), "input {} produced two outputs", t.n);
    }
    assert_eq!(seen.len() as i64, inputs, "every input produced an output");
    let mut per_user: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for t in out {
        per_user.entry(&t.user).or_default().push(t.count);
    }
    for (user, counts) in per_user {
        let expected = (0..inputs).filter(|n| format!("u{}", n % users) == user).count() as i64;
        assert_eq!(counts, (1..=expected).collect::<Vec<_>>(), "running totals of {user}, in order");
    }
}

/// The function's status once `cond` holds of it (reports come every 2 s).
async fn reported(
    client: &Client,
    name: &str,
    cond: impl Fn(&runnel::FunctionInfo) -> bool,
) -> runnel::FunctionInfo {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(info) = client.get_function(name).await {
            if cond(&info) || tokio::time::Instant::now() > deadline {
                return info;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "function {name} reported");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn spawn(client: &Client, guarantee: Guarantee) -> tokio::task::JoinHandle<Result<(), ClientError>> {
    let client = client.clone();
    tokio::spawn(async move {
        client
            .function::<Click, Total>("counter")
            .input("clicks")
            .output("totals")
            .state::<String, i64>()
            .guarantee(guarantee)
            .batch(50)
            .session_timeout(Duration::from_secs(3))
            .run(count)
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effectively_once_survives_killed_instances_and_server_restarts() {
    let mut t = TestServer::start().await;
    topics(&t, 2).await;
    let (inputs, users) = (3_000, 7);
    let mut instance = spawn(&t.client, Guarantee::EffectivelyOnce);
    for round in 0..6 {
        produce(&t.client, round * inputs / 6, (round + 1) * inputs / 6, users).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The instance crashes (nothing past its last committed turn survives)...
        instance.abort();
        let _ = instance.await;
        if round % 2 == 1 {
            // ...and every other round the server restarts too.
            t.restart().await;
            t.client = Client::connect(t.url()).await.unwrap();
        }
        instance = spawn(&t.client, Guarantee::EffectivelyOnce);
    }
    let out = read_totals(&t.client, inputs as usize).await;
    check_exactly_once(&out, inputs, users);
    instance.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_the_input_by_key_and_a_killed_ones_keys_move_in_order() {
    let t = TestServer::start().await;
    topics(&t, 4).await;
    let (inputs, users) = (2_000, 12);
    let a = spawn(&t.client, Guarantee::EffectivelyOnce);
    let b = spawn(&t.client, Guarantee::EffectivelyOnce);
    let c = spawn(&t.client, Guarantee::EffectivelyOnce);
    produce(&t.client, 0, inputs / 2, users).await;
    // All three report and own partitions.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let info = t.client.get_function("counter").await;
        if let Ok(info) = info {
            if info.instances == 3 && info.instance_list.iter().all(|i| !i.partitions.is_empty()) {
                assert_eq!(info.kind, "rust");
                assert_eq!(info.guarantee, "effectively-once");
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "three instances sharing the partitions");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.abort();
    produce(&t.client, inputs / 2, inputs, users).await;
    let out = read_totals(&t.client, inputs as usize).await;
    check_exactly_once(&out, inputs, users);
    // The instances' reports (every 2 s) add up to every input.
    let processed = reported(&t.client, "counter", |i| i.processed as i64 >= inputs).await;
    assert!(processed.processed as i64 >= inputs, "processed {}", processed.processed);
    b.abort();
    c.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_loses_nothing_across_killed_instances() {
    let t = TestServer::start().await;
    topics(&t, 2).await;
    let (inputs, users) = (1_000, 5);
    let mut instance = spawn(&t.client, Guarantee::AtLeastOnce);
    for round in 0..4 {
        produce(&t.client, round * inputs / 4, (round + 1) * inputs / 4, users).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        instance.abort();
        let _ = instance.await;
        instance = spawn(&t.client, Guarantee::AtLeastOnce);
    }
    let out = read_totals(&t.client, inputs as usize).await;
    let seen: std::collections::HashSet<i64> = out.iter().map(|t| t.n).collect();
    assert_eq!(seen.len() as i64, inputs, "every input produced at least one output");
    instance.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_panicking_records_are_retried_then_dead_lettered_and_the_function_goes_on() {
    let t = TestServer::start().await;
    topics(&t, 1).await;
    produce(&t.client, 0, 10, 3).await;
    let client = t.client.clone();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = attempts.clone();
    let f = tokio::spawn(async move {
        client
            .function::<Click, Total>("picky")
            .input("clicks")
            .output("totals")
            .max_attempts(3)
            .run(move |c: Click, _ctx: &mut Context<'_>| {
                if c.n == 3 {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Err("three is not allowed".into());
                }
                if c.n == 7 {
                    panic!("seven panics");
                }
                Ok(Some(Total { user: c.user, n: c.n, count: 0 }))
            })
            .await
    });
    let out = read_totals(&t.client, 8).await;
    let ns: Vec<i64> = out.iter().map(|t| t.n).collect();
    assert_eq!(ns, [0, 1, 2, 4, 5, 6, 8, 9]);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::Relaxed), 3, "tried three times");
    let mut dlq = t.client.consumer::<Click>("picky-dlq").subscribe().await.unwrap();
    let mut dead = Vec::new();
    while let Some(m) = next_within(Duration::from_secs(5), &mut dlq).await {
        let error = String::from_utf8_lossy(m.header("runnel-function-error").unwrap()).into_owned();
        let source = String::from_utf8_lossy(m.header("runnel-function-source").unwrap()).into_owned();
        let tries = String::from_utf8_lossy(m.header("runnel-function-attempts").unwrap()).into_owned();
        dead.push((m.value().n, error, source, tries));
        if dead.len() == 2 {
            break;
        }
    }
    assert_eq!(dead[0], (3, "three is not allowed".into(), "clicks/0/3".into(), "3".into()));
    assert_eq!(dead[1].0, 7);
    assert!(dead[1].1.contains("seven panics"), "{}", dead[1].1);
    let info = reported(&t.client, "picky", |i| i.processed == 10).await;
    assert_eq!((info.processed, info.failed), (10, 2));
    assert!(info.last_error.contains("seven panics"), "{}", info.last_error);
    assert!(!f.is_finished(), "the instance keeps running");
    f.abort();
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.fn", name = "Click")]
struct NeedsAge {
    user: String,
    age: i32,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.fn", name = "Total")]
struct TotalAsString {
    user: String,
    n: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_read_its_input_or_write_its_output_does_not_start_and_says_why() {
    let t = TestServer::start().await;
    topics(&t, 1).await;
    let err = t
        .client
        .function::<NeedsAge, TotalAsString>("wrong")
        .input("clicks")
        .output("totals")
        .run(|_: NeedsAge, _: &mut Context<'_>| Ok::<_, FunctionError>(None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Function(_)), "{err:?}");
    assert!(text.contains("version 1") && text.contains("age"), "the input's reason: {text}");
    assert!(text.contains("output `totals`"), "the output's reason: {text}");
    assert!(t.client.get_function("wrong").await.is_err(), "not registered");
    // A name a built-in holds is refused.
    t.topic_with_schema("copies", 1, Click::schema()).await;
    t.client
        .create_function(
            "taken",
            "clicks",
            runnel::BuiltinFunction::Filter { output: "copies".into(), condition: "n > 1".into() },
        )
        .await
        .unwrap();
    let err = t
        .client
        .function::<Click, Total>("taken")
        .input("clicks")
        .output("totals")
        .run(|_: Click, _: &mut Context<'_>| Ok::<_, FunctionError>(None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_windows_hand_over_each_window_once() {
    let t = TestServer::start().await;
    topics(&t, 1).await;
    produce(&t.client, 0, 10, 2).await;
    let client = t.client.clone();
    let f = tokio::spawn(async move {
        client
            .function::<Click, Total>("windows")
            .input("clicks")
            .output("totals")
            .run_windowed_until(
                WindowSpec::tumbling_count(4),
                |w: Window<Click>, _: &mut Context<'_>| {
                    let sum = w.values.iter().map(|c| c.n).sum();
                    Ok::<_, FunctionError>(Some(Total {
                        user: "window".into(),
                        n: sum,
                        count: w.values.len() as i64,
                    }))
                },
                std::future::pending(),
            )
            .await
    });
    let out = read_totals(&t.client, 2).await;
    let sums: Vec<(i64, i64)> = out.iter().map(|t| (t.n, t.count)).collect();
    assert_eq!(sums, [(6, 4), (22, 4)], "0..4 and 4..8; 8 and 9 wait in an open window");
    f.abort();
}

/// Runs a sliding event-time window function (10 s windows every 5 s) summing the
/// clicks' `n` (the event times in ms) until `stop`.
async fn run_sliding(client: Client, stop: tokio::sync::oneshot::Receiver<()>) -> Result<(), ClientError> {
    client
        .function::<Click, Total>("sliding")
        .input("clicks")
        .output("totals")
        .run_windowed_until(
            WindowSpec::sliding_time(Duration::from_secs(10), Duration::from_secs(5)),
            |w: Window<Click>, _: &mut Context<'_>| {
                Ok::<_, FunctionError>(Some(Total {
                    user: format!("{}..{}", w.start, w.end),
                    n: w.values.iter().map(|c| c.n).sum(),
                    count: w.values.len() as i64,
                }))
            },
            async {
                let _ = stop.await;
            },
        )
        .await
}

/// Clicks whose event time is their `n` (ms).
async fn produce_at(client: &Client, times: &[i64]) {
    let p = client.producer::<Click>("clicks").create().await.unwrap();
    for &n in times {
        let options = SendOptions::default().timestamp_ms(n);
        p.send_with(&Click { user: "u".into(), n }, options).await.expect("click stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_time_windows_close_once_across_a_restart() {
    let t = TestServer::start().await;
    topics(&t, 1).await;
    // Windows [-5,5) [0,10) [5,15) [10,20) s close as the clock passes their ends.
    produce_at(&t.client, &[1_000, 7_000, 12_000, 21_000]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let first = tokio::spawn(run_sliding(t.client.clone(), stopped));
    let out = read_totals(&t.client, 4).await;
    let windows: Vec<(&str, i64)> = out.iter().map(|t| (t.user.as_str(), t.n)).collect();
    assert_eq!(
        windows,
        [("-5000..5000", 1_000), ("0..10000", 8_000), ("5000..15000", 19_000), ("10000..20000", 12_000)]
    );
    let _ = stop.send(());
    first.await.unwrap().expect("the first instance stops cleanly");
    // While no instance runs: a click whose windows have all closed, then one that
    // closes [15,25) and [20,30). The next instance replays from 21 000 (the open
    // windows' first record) and must keep 5 000 late: the closing mark is restored.
    produce_at(&t.client, &[5_000, 31_000]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let second = tokio::spawn(run_sliding(t.client.clone(), stopped));
    let out = read_totals(&t.client, 6).await;
    let windows: Vec<(&str, i64)> = out.iter().map(|t| (t.user.as_str(), t.n)).collect();
    assert_eq!(
        windows,
        [
            ("-5000..5000", 1_000),
            ("0..10000", 8_000),
            ("5000..15000", 19_000),
            ("10000..20000", 12_000),
            ("15000..25000", 21_000),
            ("20000..30000", 21_000),
        ],
        "each window handed over once, 5 000 late"
    );
    let _ = stop.send(());
    second.await.unwrap().expect("the second instance stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_function_stops_its_instances() {
    let t = TestServer::start().await;
    topics(&t, 1).await;
    let f = spawn(&t.client, Guarantee::EffectivelyOnce);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while t.client.get_function("counter").await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the instance registers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(t.client.list_functions().await.unwrap().iter().any(|f| f.name == "counter" && f.kind == "rust"));
    t.client.delete_function("counter").await.unwrap();
    let ended = tokio::time::timeout(PATIENCE, f).await.expect("the instance stops").unwrap();
    assert!(ended.is_ok(), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_type_the_stored_values_cannot_evolve_into_stops_the_function_with_the_reason() {
    let t = TestServer::start().await;
    topics(&t, 1).await;
    produce(&t.client, 0, 5, 2).await;
    // Five clicks counted as i64 state...
    let first = spawn(&t.client, Guarantee::EffectivelyOnce);
    read_totals(&t.client, 5).await;
    first.abort();
    let _ = first.await;
    // ...then the same function with its state's value retyped to a string.
    let err = t
        .client
        .function::<Click, Total>("counter")
        .input("clicks")
        .output("totals")
        .state::<String, String>()
        .run(|_: Click, _: &mut Context<'_>| Ok::<_, FunctionError>(None))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Function(_)), "{err:?}");
    assert!(text.contains("state `counter-state-value`"), "names the state: {text}");
    assert!(text.contains("long") || text.contains("string"), "names the types: {text}");
}
