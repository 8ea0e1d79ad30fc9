//! Redelivery counts across SIGKILL: a real `runnel serve` child holds a shared
//! subscription with a dead-letter policy of N deliveries; a consumer nacks the one
//! (poison) record it gets, and the server is killed with SIGKILL after every delivery and
//! restarted on the same data directory. The record must reach `<topic>-<subscription>-DLQ`
//! after at most N+1 deliveries in all (the broker's promise across crashes: only a
//! record's first delivery can be forgotten), not N more after every restart.

use std::time::Duration;

use runnel_broker::runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, subscription_event::Kind as EventKind,
    subscription_request::Kind, subscriptions_client::SubscriptionsClient, CreateTopicRequest,
    DeadLetterPolicy, FetchRequest, MessageId, NackRequest, ProduceRequest, SubscribeRequest,
    SubscriptionRequest, SubscriptionType, TopicConfig, ValidationLevel,
};
use runnel_broker::runnel_proto::{batch, BatchBuilder};

mod common;
use common::Server;

const TOPIC: &str = "jobs";
const SUBSCRIPTION: &str = "work";
const DEAD_LETTER_TOPIC: &str = "jobs-work-DLQ";
/// The dead-letter policy: deliveries before the move.
const MAX_DELIVERIES: u32 = 3;
/// Long enough for anything a healthy server does; only reached when the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Creates the topic (no schema checks) and produces the poison record.
async fn create_and_produce(url: &str) {
    let mut admin = AdminClient::connect(url.to_owned()).await.expect("connect");
    let config = TopicConfig { validation: ValidationLevel::None as i32, ..Default::default() };
    let req = CreateTopicRequest { topic: TOPIC.into(), config: Some(config), if_not_exists: false };
    admin.create_topic(req).await.expect("create topic");
    let mut b = BatchBuilder::new();
    b.push(Some(b"poison"), Some(b"poison"), 1_000, &[]);
    let mut broker = BrokerClient::connect(url.to_owned()).await.expect("connect");
    let req = ProduceRequest {
        topic: TOPIC.into(),
        partition: 0,
        batch: b.finish(-1, -1, -1),
        ..Default::default()
    };
    broker.produce(req).await.expect("produce");
}

/// The `runnel-dlq-delivery-count` header of the record in the dead-letter topic, once
/// there is one (`None` while the topic is missing or empty).
async fn dead_letter_count(url: &str) -> Option<String> {
    let mut broker = BrokerClient::connect(url.to_owned()).await.expect("connect");
    let req = FetchRequest {
        topic: DEAD_LETTER_TOPIC.into(),
        partition: 0,
        offset: 0,
        max_wait_ms: 1,
        ..Default::default()
    };
    let mut stream = broker.fetch(req).await.ok()?.into_inner();
    let mut bytes = Vec::new();
    while let Ok(Some(resp)) = stream.message().await {
        bytes.extend_from_slice(&resp.batches);
    }
    let b = batch::batches(&bytes).next()?.expect("a valid batch");
    let r = b.records().next()?.expect("a valid record");
    assert_eq!(r.value, Some(&b"poison"[..]));
    let h = r.headers.iter().find(|h| h.key == "runnel-dlq-delivery-count")?;
    Some(String::from_utf8(h.value.unwrap_or_default().to_vec()).expect("text"))
}

/// What one run of the server showed the consumer.
enum Seen {
    /// The record, with its redelivery count (nacked at once).
    Delivery(u32),
    /// No delivery: the record is in the dead-letter topic, with this delivery count.
    DeadLettered(String),
}

/// Subscribes and waits for the record (nacking it) or for it to reach the dead-letter topic.
async fn consume_once(url: &str) -> Seen {
    let mut client = SubscriptionsClient::connect(url.to_owned()).await.expect("connect");
    let (requests, rx) = futures::channel::mpsc::unbounded();
    let subscribe = SubscribeRequest {
        topic: TOPIC.into(),
        subscription: SUBSCRIPTION.into(),
        r#type: SubscriptionType::Shared as i32,
        permits: 10,
        // Nacked records come back after a minute: here, only after a restart.
        nack_delay_ms: 60_000,
        dead_letter: Some(DeadLetterPolicy { max_deliveries: MAX_DELIVERIES, topic: String::new() }),
        ..Default::default()
    };
    requests.unbounded_send(SubscriptionRequest { kind: Some(Kind::Subscribe(subscribe)) }).unwrap();
    let mut events = client.subscribe(rx).await.expect("subscribed").into_inner();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), events.message()).await {
            Ok(Ok(Some(event))) => match event.kind {
                Some(EventKind::Deliveries(d)) => {
                    let r = &d.records[0];
                    assert_eq!(r.value, b"poison");
                    let ids = vec![MessageId { partition: r.partition, offset: r.offset }];
                    requests
                        .unbounded_send(SubscriptionRequest { kind: Some(Kind::Nack(NackRequest { ids })) })
                        .unwrap();
                    return Seen::Delivery(r.redelivery_count);
                }
                Some(EventKind::Error(e)) => panic!("broker error: {}", e.message),
                _ => {}
            },
            Ok(other) => panic!("subscription stream ended: {other:?}"),
            Err(_) => {
                if let Some(count) = dead_letter_count(url).await {
                    return Seen::DeadLettered(count);
                }
            }
        }
    }
    panic!("neither a delivery nor a dead letter within {PATIENCE:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_reaches_the_dead_letter_topic_after_at_most_n_plus_one_deliveries_across_sigkills() {
    let mut server = Server::start(&[]);
    create_and_produce(server.grpc_url()).await;
    let mut counts = Vec::new();
    for run in 0.. {
        if run > 0 {
            server.restart();
        }
        match consume_once(server.grpc_url()).await {
            Seen::Delivery(count) => {
                counts.push(count);
                assert!(
                    counts.len() <= MAX_DELIVERIES as usize + 1,
                    "delivered {} times with a dead-letter policy of {MAX_DELIVERIES} (redelivery counts {counts:?})",
                    counts.len()
                );
                // Killed between deliveries, at a slightly different moment each run.
                tokio::time::sleep(Duration::from_millis(10 * run)).await;
                server.kill();
            }
            Seen::DeadLettered(header) => {
                assert_eq!(
                    header,
                    MAX_DELIVERIES.to_string(),
                    "the broker counted {MAX_DELIVERIES} deliveries"
                );
                assert!(
                    counts.len() >= MAX_DELIVERIES as usize,
                    "moved after {} deliveries, fewer than the policy's {MAX_DELIVERIES} ({counts:?})",
                    counts.len()
                );
                return;
            }
        }
    }
}
