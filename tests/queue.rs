//! End-to-end tests of queue subscriptions (exclusive, failover, shared,
//! key_shared) against a real server started in-process: per-record acks,
//! negative acks, ack timeouts, redelivery counts, dead-letter topics,
//! consumers leaving and joining, cumulative acks, and ack state surviving a
//! broker restart.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{next_message as next, TestServer, PATIENCE};
use runnel::{
    dlq_headers, Avro, ClientError, DeadLetterPolicy, QueueConsumer, QueueMessage, SubscriptionType,
};

/// How long a polling loop waits for one message before checking its exit condition.
const POLL: Duration = Duration::from_millis(50);

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example")]
struct Job {
    key: String,
    seq: i64,
}

fn job(key: &str, seq: i64) -> Job {
    Job { key: key.to_owned(), seq }
}

async fn produce(t: &TestServer, topic: &str, jobs: impl IntoIterator<Item = Job>) {
    let producer = t.client.producer::<Job>(topic).key(|j: &Job| j.key.clone()).create().await.unwrap();
    let sends: Vec<_> = jobs.into_iter().map(|j| producer.send(&j)).collect();
    for s in sends {
        s.await.expect("record stored");
    }
}

/// The next message if one comes within `POLL`.
async fn poll(consumer: &mut QueueConsumer<Job>) -> Option<QueueMessage<Job>> {
    common::next_within(POLL, consumer).await
}

async fn subscribe(
    t: &TestServer,
    topic: &str,
    sub: &str,
    kind: SubscriptionType,
    name: &str,
) -> QueueConsumer<Job> {
    t.client
        .subscription::<Job>(topic, sub)
        .subscription_type(kind)
        .consumer_name(name)
        .receiver_queue(10)
        .subscribe()
        .await
        .expect("subscribed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shared_consumers_each_get_a_share_and_together_see_every_record_once() {
    let t = TestServer::start().await;
    t.topic_with_schema("work", 2, Job::schema()).await;
    const N: i64 = 300;
    produce(&t, "work", (0..N).map(|i| job(&format!("k{}", i % 17), i))).await;
    let seen: Arc<Mutex<Vec<(usize, i64, u32)>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..3 {
        let mut c = subscribe(&t, "work", "workers", SubscriptionType::Shared, &format!("w{w}")).await;
        let seen = Arc::clone(&seen);
        tasks.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while seen.lock().unwrap().len() < N as usize {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "records missing: {}",
                    seen.lock().unwrap().len()
                );
                if let Some(msg) = poll(&mut c).await {
                    seen.lock().unwrap().push((w, msg.value().seq, msg.redelivery_count()));
                    msg.ack().await.unwrap();
                    // Let the other workers take their turns.
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let distinct: BTreeSet<i64> = seen.iter().map(|&(_, s, _)| s).collect();
    assert_eq!(seen.len(), N as usize, "every record exactly once");
    assert_eq!(distinct, (0..N).collect());
    assert!(seen.iter().all(|&(_, _, r)| r == 0), "no record was delivered twice");
    for w in 0..3 {
        assert!(seen.iter().any(|&(x, _, _)| x == w), "worker {w} got no share");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacked_record_comes_back_after_the_delay_with_its_redelivery_count_raised() {
    let t = TestServer::start().await;
    t.topic_with_schema("nacks", 1, Job::schema()).await;
    produce(&t, "nacks", [job("a", 1)]).await;
    let mut c = t
        .client
        .subscription::<Job>("nacks", "s")
        .subscription_type(SubscriptionType::Shared)
        .nack_delay(Duration::from_millis(30))
        .subscribe()
        .await
        .unwrap();
    let first = next(&mut c).await;
    assert_eq!((first.value().seq, first.redelivery_count()), (1, 0));
    first.nack().await.unwrap();
    let again = next(&mut c).await;
    assert_eq!((again.value().seq, again.offset(), again.redelivery_count()), (1, first.offset(), 1));
    again.ack().await.unwrap();
    // Acking twice, or a record that is not out, is a no-op, not an error.
    again.ack().await.unwrap();
    first.ack().await.unwrap();
    // Once acked it is gone: the next record is the next one produced.
    produce(&t, "nacks", [job("a", 2)]).await;
    let after = next(&mut c).await;
    assert_eq!((after.value().seq, after.redelivery_count()), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_held_past_the_ack_timeout_are_delivered_again() {
    let t = TestServer::start().await;
    t.topic_with_schema("slow", 1, Job::schema()).await;
    produce(&t, "slow", [job("a", 1)]).await;
    let mut c = t
        .client
        .subscription::<Job>("slow", "s")
        .subscription_type(SubscriptionType::Shared)
        .ack_timeout(Duration::from_millis(50))
        .subscribe()
        .await
        .unwrap();
    let first = next(&mut c).await;
    assert_eq!(first.redelivery_count(), 0);
    let again = next(&mut c).await; // not acked in time
    assert_eq!((again.offset(), again.redelivery_count()), (first.offset(), 1));
    again.ack().await.unwrap();
    produce(&t, "slow", [job("a", 2)]).await;
    assert_eq!(next(&mut c).await.value().seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_nacked_max_deliveries_times_lands_in_the_dead_letter_topic_with_its_headers() {
    let t = TestServer::start().await;
    t.topic_with_schema("orders", 1, Job::schema()).await;
    produce(&t, "orders", [job("poison", 1), job("fine", 2)]).await;
    let mut c = t
        .client
        .subscription::<Job>("orders", "billing")
        .subscription_type(SubscriptionType::Shared)
        .nack_delay(Duration::from_millis(20))
        .dead_letter(DeadLetterPolicy { max_deliveries: 3, topic: None })
        .subscribe()
        .await
        .unwrap();
    let mut poison_deliveries = Vec::new();
    let mut poison_offset = None;
    let mut fine = 0;
    // 3 deliveries of the poison record, nacked each time, and the fine one.
    while poison_deliveries.len() < 3 || fine == 0 {
        let msg = next(&mut c).await;
        if msg.value().seq == 1 {
            poison_deliveries.push(msg.redelivery_count());
            poison_offset = Some(msg.offset());
            msg.nack().await.unwrap();
        } else {
            fine += 1;
            msg.ack().await.unwrap();
        }
    }
    assert_eq!(poison_deliveries, vec![0, 1, 2]);

    // The dead-letter topic is created by the broker when the first record moves.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut dlq = loop {
        match t.client.consumer::<Job>("orders-billing-DLQ").subscribe().await {
            Ok(c) => break c,
            Err(ClientError::UnknownTopic { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("dead-letter topic: {e}"),
        }
    };
    let dead = match tokio::time::timeout(PATIENCE, dlq.next()).await {
        Ok(Some(Ok(m))) => m,
        other => panic!("no dead letter: {other:?}"),
    };
    assert_eq!(dead.value(), &job("poison", 1));
    assert_eq!(dead.key(), Some(&b"poison"[..]));
    let header = |n: &str| String::from_utf8(dead.header(n).expect(n).to_vec()).unwrap();
    assert_eq!(header(dlq_headers::ORIGINAL_TOPIC), "orders");
    assert_eq!(header(dlq_headers::ORIGINAL_PARTITION), "0");
    assert_eq!(header(dlq_headers::ORIGINAL_OFFSET), poison_offset.unwrap().to_string());
    assert_eq!(header(dlq_headers::SUBSCRIPTION), "billing");
    assert_eq!(header(dlq_headers::DELIVERY_COUNT), "3");
    assert_eq!(header(dlq_headers::REASON), "nack");
    // The dead-letter topic is bound to the same subject, so its records stay valid.
    let info = t.client.describe_topic("orders-billing-DLQ").await.unwrap();
    assert_eq!(info.config.unwrap().value_subject, "orders-value");

    // Moved, not redelivered: the next record on the subscription is a new one.
    produce(&t, "orders", [job("fine", 3)]).await;
    let msg = next(&mut c).await;
    assert_eq!((msg.value().seq, msg.redelivery_count()), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_consumers_unacked_records_go_to_the_others() {
    let t = TestServer::start().await;
    t.topic_with_schema("tasks", 1, Job::schema()).await;
    produce(&t, "tasks", (0..20).map(|i| job("k", i))).await;
    let mut a = subscribe(&t, "tasks", "pool", SubscriptionType::Shared, "a").await;
    let mut held = BTreeSet::new();
    for _ in 0..5 {
        held.insert(next(&mut a).await.value().seq); // taken, never acked
    }
    let mut b = subscribe(&t, "tasks", "pool", SubscriptionType::Shared, "b").await;
    drop(a);
    let mut seen = BTreeMap::new();
    while seen.len() < 20 {
        let msg = next(&mut b).await;
        seen.insert(msg.value().seq, msg.redelivery_count());
        msg.ack().await.unwrap();
    }
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    for s in &held {
        assert!(seen[s] >= 1, "record {s} held by the dropped consumer comes back as a redelivery");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shared_keeps_per_key_order_across_a_consumer_joining_and_leaving() {
    let t = TestServer::start().await;
    t.topic_with_schema("events", 1, Job::schema()).await;
    const KEYS: i64 = 10;
    const PER_KEY: i64 = 30;
    let mut jobs = Vec::new();
    for seq in 0..PER_KEY {
        for k in 0..KEYS {
            jobs.push(job(&format!("key-{k}"), seq));
        }
    }
    produce(&t, "events", jobs).await;
    let total = (KEYS * PER_KEY) as usize;
    // The global order of acks, as (consumer, key, seq).
    let log: Arc<Mutex<Vec<(char, String, i64)>>> = Arc::default();

    let mut a = subscribe(&t, "events", "ordered", SubscriptionType::KeyShared, "a").await;
    for _ in 0..50 {
        let msg = next(&mut a).await;
        log.lock().unwrap().push(('a', msg.value().key.clone(), msg.value().seq));
        msg.ack().await.unwrap();
    }
    // b joins while a still holds unacked records of some keys.
    let b = subscribe(&t, "events", "ordered", SubscriptionType::KeyShared, "b").await;
    let stop_a = Arc::new(AtomicBool::new(false));
    let run = |mut c: QueueConsumer<Job>, name: char, stop: Option<Arc<AtomicBool>>| {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            loop {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    return; // leaves with its unacked records, dropped here
                }
                let acked: BTreeSet<(String, i64)> =
                    log.lock().unwrap().iter().map(|(_, k, s)| (k.clone(), *s)).collect();
                if acked.len() == total {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "records missing");
                if let Some(msg) = poll(&mut c).await {
                    // Log, then ack: the broker gives the key to another consumer
                    // only after this ack, so the log's order is the order of acks.
                    log.lock().unwrap().push((name, msg.value().key.clone(), msg.value().seq));
                    msg.ack().await.unwrap();
                }
            }
        })
    };
    let task_a = run(a, 'a', Some(Arc::clone(&stop_a)));
    let task_b = run(b, 'b', None);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while log.lock().unwrap().len() < 150 {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_a.store(true, Ordering::SeqCst);
    task_a.await.unwrap();
    task_b.await.unwrap();

    let log = log.lock().unwrap().clone();
    let mut per_key: HashMap<String, Vec<i64>> = HashMap::new();
    for (_, k, s) in &log {
        per_key.entry(k.clone()).or_default().push(*s);
    }
    assert_eq!(per_key.len(), KEYS as usize);
    for (k, seqs) in &per_key {
        assert_eq!(seqs, &(0..PER_KEY).collect::<Vec<_>>(), "key {k}: every record once, in order");
    }
    let b_keys_before_a_left: usize = log.iter().take(150).filter(|(c, _, _)| *c == 'b').count();
    assert!(b_keys_before_a_left > 0, "keys were re-spread when b joined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_unacked_records_are_redelivered_and_acked_ones_never() {
    let mut t = TestServer::start().await;
    t.topic_with_schema("durable", 2, Job::schema()).await;
    produce(&t, "durable", (0..40).map(|i| job(&format!("k{i}"), i))).await;
    let mut c = subscribe(&t, "durable", "s", SubscriptionType::Shared, "c").await;
    let mut unacked = BTreeSet::new();
    for _ in 0..40 {
        let msg = next(&mut c).await;
        let seq = msg.value().seq;
        if seq % 3 == 0 {
            unacked.insert(seq);
        } else {
            msg.ack().await.unwrap();
        }
    }
    c.close().await.unwrap();
    t.restart().await;

    let mut c = subscribe(&t, "durable", "s", SubscriptionType::Shared, "c").await;
    let mut again = BTreeSet::new();
    while again.len() < unacked.len() {
        let msg = next(&mut c).await;
        assert!(unacked.contains(&msg.value().seq), "acked record {} delivered again", msg.value().seq);
        again.insert(msg.value().seq);
        msg.ack().await.unwrap();
    }
    assert_eq!(again, unacked);
    // Nothing else is pending: the next record is a new one.
    produce(&t, "durable", [job("k0", 1000)]).await;
    assert_eq!(next(&mut c).await.value().seq, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_subscription_refuses_a_second_consumer_and_shared_refuses_cumulative_acks() {
    let t = TestServer::start().await;
    t.topic_with_schema("solo", 1, Job::schema()).await;
    let first = subscribe(&t, "solo", "only", SubscriptionType::Exclusive, "first").await;
    let refused = t.client.subscription::<Job>("solo", "only").subscribe().await.unwrap_err();
    assert!(matches!(&refused, ClientError::SubscriptionRefused(m) if m.contains("exclusive")), "{refused}");
    let other_type = t
        .client
        .subscription::<Job>("solo", "only")
        .subscription_type(SubscriptionType::Shared)
        .subscribe()
        .await;
    assert!(other_type.unwrap_err().to_string().contains("exclusive"));
    // Once the first leaves, the subscription is free again.
    first.close().await.unwrap();
    let mut second = subscribe(&t, "solo", "only", SubscriptionType::Shared, "second").await;
    produce(&t, "solo", [job("a", 1)]).await;
    let msg = next(&mut second).await;
    let err = second.ack_cumulative(&msg).await.unwrap_err();
    assert!(err.to_string().contains("cumulative"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_switches_to_the_standby_which_continues_after_the_cumulative_ack() {
    let t = TestServer::start().await;
    t.topic_with_schema("ha", 1, Job::schema()).await;
    let mut a = subscribe(&t, "ha", "main", SubscriptionType::Failover, "a").await;
    let mut b = subscribe(&t, "ha", "main", SubscriptionType::Failover, "b").await;
    common::eventually(PATIENCE, "a active, b standby", || {
        a.active_partitions() == vec![0] && b.active_partitions().is_empty()
    })
    .await;
    produce(&t, "ha", (0..10).map(|i| job("k", i))).await;
    let mut third = None;
    for i in 0..3 {
        let msg = next(&mut a).await;
        assert_eq!(msg.value().seq, i);
        third = Some(msg);
    }
    a.ack_cumulative(third.as_ref().unwrap()).await.unwrap();
    a.close().await.unwrap();
    let got: Vec<i64> = {
        let mut got = Vec::new();
        while got.len() < 7 {
            let msg = next(&mut b).await;
            got.push(msg.value().seq);
            msg.ack().await.unwrap();
        }
        got
    };
    assert_eq!(got, (3..10).collect::<Vec<_>>(), "the standby continues after what the active acked");
    assert_eq!(b.active_partitions(), vec![0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_resubscribes_by_itself_after_a_broker_restart_and_gets_its_unacked_record_again() {
    let mut t = TestServer::start().await;
    t.topic_with_schema("resume", 1, Job::schema()).await;
    produce(&t, "resume", [job("a", 1)]).await;
    let mut c = subscribe(&t, "resume", "s", SubscriptionType::Exclusive, "c").await;
    let first = next(&mut c).await;
    assert_eq!(first.value().seq, 1);
    t.restart().await;
    // The stream broke; the consumer subscribes again and the unacked record comes back.
    let again = next(&mut c).await;
    assert_eq!((again.value().seq, again.offset()), (1, first.offset()));
    again.ack().await.unwrap();
    produce(&t, "resume", [job("a", 2)]).await;
    assert_eq!(next(&mut c).await.value().seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_topic_that_cannot_be_created_is_reported_and_the_record_kept() {
    let t = TestServer::start().await;
    t.topic_with_schema("payments", 1, Job::schema()).await;
    produce(&t, "payments", [job("p", 1)]).await;
    let mut c = t
        .client
        .subscription::<Job>("payments", "s")
        .subscription_type(SubscriptionType::Shared)
        .nack_delay(Duration::from_millis(10))
        .dead_letter(DeadLetterPolicy { max_deliveries: 1, topic: Some("no spaces allowed".into()) })
        .subscribe()
        .await
        .unwrap();
    next(&mut c).await.nack().await.unwrap();
    let err = match tokio::time::timeout(PATIENCE, c.next()).await {
        Ok(Some(Err(e))) => e.to_string(),
        other => panic!("expected the broker's report, got {other:?}"),
    };
    assert!(err.contains("dead-letter topic 'no spaces allowed'"), "{err}");
    assert!(err.contains("invalid topic name"), "{err}");
    // Nothing was created under the bad name; the record stays unacknowledged
    // (the broker retries the move and reports each failure).
    let topics = t.client.list_topics().await.unwrap();
    assert!(topics.iter().all(|i| i.name != "no spaces allowed"));
}
