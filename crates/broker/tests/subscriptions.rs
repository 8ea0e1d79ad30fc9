//! Queue subscriptions across broker restarts in the same process: a record's delivery
//! count is kept, so a poison record reaches the dead-letter topic after the policy's
//! number of deliveries in all, not that many more after each restart.

mod common;

use std::time::Duration;

use common::{batch_of, config, start_with, Harness};
use runnel_proto::v1::{
    subscription_event::Kind as EventKind, subscription_request::Kind,
    subscriptions_client::SubscriptionsClient, AckRequest, CreateTopicRequest, DeadLetterPolicy, Delivery,
    MessageId, NackRequest, ProduceRequest, SubscribeRequest, SubscriptionEvent, SubscriptionRequest,
    SubscriptionType, TopicConfig, ValidationLevel,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// Long enough for anything a healthy server does; only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// One consumer's stream: requests up, events down.
struct Consumer {
    requests: mpsc::UnboundedSender<SubscriptionRequest>,
    events: tonic::Streaming<SubscriptionEvent>,
}

impl Consumer {
    /// Subscribes to `topic` as shared subscription `sub` with a dead-letter policy of
    /// `max_deliveries`; a nacked record comes back only after a minute (so here, after a
    /// restart).
    async fn subscribe(h: &Harness, topic: &str, sub: &str, max_deliveries: u32) -> Consumer {
        let mut client = SubscriptionsClient::connect(h.server.grpc_url()).await.expect("connect");
        let (requests, rx) = mpsc::unbounded_channel();
        let subscribe = SubscribeRequest {
            topic: topic.into(),
            subscription: sub.into(),
            r#type: SubscriptionType::Shared as i32,
            permits: 10,
            nack_delay_ms: 60_000,
            dead_letter: Some(DeadLetterPolicy { max_deliveries, topic: String::new() }),
            ..Default::default()
        };
        requests.send(SubscriptionRequest { kind: Some(Kind::Subscribe(subscribe)) }).unwrap();
        let events =
            client.subscribe(UnboundedReceiverStream::new(rx)).await.expect("subscribed").into_inner();
        Consumer { requests, events }
    }

    /// The next delivery, if one comes within `wait`.
    async fn delivery(&mut self, wait: Duration) -> Option<Delivery> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let event = match tokio::time::timeout_at(deadline, self.events.message()).await {
                Err(_) => return None,
                Ok(event) => event.expect("event stream").expect("stream open"),
            };
            match event.kind {
                Some(EventKind::Deliveries(d)) => {
                    assert_eq!(d.records.len(), 1, "one record on the topic");
                    return d.records.into_iter().next();
                }
                Some(EventKind::Error(e)) => panic!("broker error: {}", e.message),
                _ => {}
            }
        }
    }

    fn nack(&self, d: &Delivery) {
        let ids = vec![MessageId { partition: d.partition, offset: d.offset }];
        self.requests.send(SubscriptionRequest { kind: Some(Kind::Nack(NackRequest { ids })) }).unwrap();
    }

    fn ack(&self, d: &Delivery) {
        let ids = vec![MessageId { partition: d.partition, offset: d.offset }];
        self.requests.send(SubscriptionRequest { kind: Some(Kind::Ack(AckRequest { ids })) }).unwrap();
    }
}

/// Starts a broker on `dir` with one record in topic `jobs` (no schema checks).
async fn with_one_job(dir: &std::path::Path) -> Harness {
    let mut h = start_with(dir, config(dir)).await;
    let topic = TopicConfig { validation: ValidationLevel::None as i32, ..Default::default() };
    let req = CreateTopicRequest { topic: "jobs".into(), config: Some(topic), if_not_exists: false };
    h.admin.create_topic(req).await.expect("create topic");
    let batch = batch_of(&[b"poison".to_vec()]);
    let req = ProduceRequest { topic: "jobs".into(), partition: 0, batch, ..Default::default() };
    h.broker.produce(req).await.expect("produce");
    h
}

/// Stops `h` cleanly and starts a broker on the same data directory.
async fn restart(h: Harness) -> Harness {
    let dir = h.dir.clone();
    h.server.shutdown().await.expect("clean shutdown");
    start_with(&dir, config(&dir)).await
}

/// The headers of every record of `topic`, once it exists and holds one.
async fn dead_letters(h: &mut Harness, topic: &str) -> Vec<Vec<(String, Vec<u8>)>> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let exists = h.admin.describe_topic(runnel_proto::v1::TopicRef { topic: topic.into() }).await.is_ok();
        if exists {
            let bytes = h.read_all(topic, 0, 0).await;
            let mut out = Vec::new();
            for batch in runnel_proto::batch::batches(&bytes) {
                for r in batch.expect("batch").records() {
                    let r = r.expect("record");
                    let headers = r
                        .headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect();
                    out.push(headers);
                }
            }
            if !out.is_empty() {
                return out;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "nothing reached {topic}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_moves_after_max_deliveries_in_all_however_often_the_broker_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = with_one_job(dir.path()).await;
    // One delivery per run, nacked, then a clean restart: the count goes on from where it was.
    for expected in 0..3 {
        let mut c = Consumer::subscribe(&h, "jobs", "work", 3).await;
        let d = c.delivery(PATIENCE).await.expect("the record is delivered");
        assert_eq!((d.value.as_slice(), d.redelivery_count), (&b"poison"[..], expected));
        c.nack(&d);
        drop(c);
        h = restart(h).await;
    }
    // Three deliveries in all: the fourth attempt moves it instead.
    let mut c = Consumer::subscribe(&h, "jobs", "work", 3).await;
    let moved = dead_letters(&mut h, "jobs-work-DLQ").await;
    assert_eq!(moved.len(), 1);
    let header = |name: &str| {
        moved[0].iter().find(|(k, _)| k == name).map(|(_, v)| String::from_utf8(v.clone()).unwrap())
    };
    assert_eq!(header("runnel-dlq-delivery-count").as_deref(), Some("3"));
    assert_eq!(header("runnel-dlq-original-offset").as_deref(), Some("0"));
    assert!(c.delivery(Duration::from_millis(300)).await.is_none(), "moved, not delivered a fourth time");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_records_count_is_gone_and_new_records_start_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = with_one_job(dir.path()).await;
    let mut c = Consumer::subscribe(&h, "jobs", "work", 5).await;
    let first = c.delivery(PATIENCE).await.expect("delivered");
    assert_eq!(first.redelivery_count, 0);
    drop(c);
    h = restart(h).await;
    let mut c = Consumer::subscribe(&h, "jobs", "work", 5).await;
    let again = c.delivery(PATIENCE).await.expect("delivered again after the restart");
    assert_eq!((again.offset, again.redelivery_count), (first.offset, 1));
    c.ack(&again);
    // The ack is stored on the way down; the record never comes back.
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(c);
    h = restart(h).await;
    let batch = batch_of(&[b"next".to_vec()]);
    let req = ProduceRequest { topic: "jobs".into(), partition: 0, batch, ..Default::default() };
    h.broker.produce(req).await.expect("produce");
    let mut c = Consumer::subscribe(&h, "jobs", "work", 5).await;
    let next = c.delivery(PATIENCE).await.expect("the new record");
    assert_eq!((next.value.as_slice(), next.redelivery_count), (&b"next"[..], 0));
    h.server.shutdown().await.unwrap();
}
