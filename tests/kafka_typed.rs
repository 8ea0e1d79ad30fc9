//! The typed client's Kafka backend (`--features kafka`): `Producer<T>` and
//! `Consumer<T>` made by `Client::connect_kafka` against Runnel's own Kafka
//! listener and its Confluent-compatible registry (REST), started in-process
//! on free ports. The same round-trip, evolution and group behaviour as the
//! gRPC path (tests/client.rs), and records that either path reads.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::TestServer;
use runnel::{
    partition_for_key, Avro, Client, ClientError, KafkaConfig, NewTopic, Position, ProducerOptions,
    RawProducer, RawRecord, SendOptions, Validation,
};

/// Long enough for anything a healthy server does; only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example", name = "Person")]
struct PersonV1 {
    name: String,
    age: i32,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example", name = "Person")]
struct PersonV2 {
    name: String,
    age: i32,
    #[avro(default = "null")]
    email: Option<String>,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example")]
struct Invoice {
    number: i64,
    total: f64,
}

/// The Kafka settings for a test server: its Kafka listener and registry.
fn kafka_config(t: &TestServer) -> KafkaConfig {
    let server = t.server.as_ref().expect("server running");
    let addr = server.kafka_addr().expect("the Kafka listener runs");
    KafkaConfig::new(addr.to_string(), server.registry_url())
}

async fn kafka_client(t: &TestServer) -> Client {
    Client::connect_kafka(kafka_config(t)).await.expect("connects to the Kafka listener")
}

async fn next_value<T: Avro + Send>(consumer: &mut runnel::Consumer<T>) -> runnel::Message<T> {
    match tokio::time::timeout(PATIENCE, consumer.next()).await {
        Ok(Some(Ok(msg))) => msg,
        Ok(Some(Err(e))) => panic!("consumer error: {e}"),
        Ok(None) => panic!("consumer ended"),
        Err(_) => panic!("no message within {PATIENCE:?}"),
    }
}

mod typed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn values_round_trip_with_keys_headers_and_the_java_partitioner() {
        let t = TestServer::start().await;
        let id = t.topic_with_schema("people", 3, PersonV1::schema()).await;
        let kafka = kafka_client(&t).await;
        let producer = kafka.producer::<PersonV1>("people").key(|p: &PersonV1| p.name.clone()).create().await;
        let producer = producer.expect("producer over Kafka");
        assert_eq!((producer.schema_id(), producer.subject()), (id, "people-value"));

        let people: Vec<PersonV1> =
            (0..60).map(|i| PersonV1 { name: format!("user-{}", i % 6), age: i }).collect();
        let futures: Vec<_> = people.iter().map(|p| producer.send(p)).collect();
        let mut stored = Vec::new();
        for f in futures {
            stored.push(f.await.expect("stored"));
        }
        let tagged = producer
            .send_with(
                &PersonV1 { name: "tagged".into(), age: 99 },
                SendOptions::default().header("trace", "abc").timestamp_ms(1_700_000_000_000),
            )
            .await
            .expect("stored");
        producer.flush().await.expect("flush");
        // Keyed records land where Kafka's (and Runnel's gRPC) partitioner puts them.
        for (p, meta) in people.iter().zip(&stored) {
            assert_eq!(meta.partition, partition_for_key(p.name.as_bytes(), 3), "partition of {}", p.name);
        }

        let mut consumer = kafka.consumer::<PersonV1>("people").subscribe().await.expect("consumer");
        let mut seen: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        let mut found_tagged = false;
        for _ in 0..61 {
            let msg = next_value(&mut consumer).await;
            assert_eq!(msg.schema_id(), id);
            if msg.value().name == "tagged" {
                assert_eq!(msg.header("trace"), Some(&b"abc"[..]));
                assert_eq!((msg.partition(), msg.offset()), (tagged.partition, tagged.offset));
                assert_eq!(msg.timestamp_ms(), 1_700_000_000_000);
                found_tagged = true;
                continue;
            }
            assert_eq!(msg.key(), Some(msg.value().name.as_bytes()));
            seen.entry(msg.value().name.clone()).or_default().push(msg.value().age);
        }
        assert!(found_tagged);
        for (name, ages) in &seen {
            let expected: Vec<i32> = people.iter().filter(|p| &p.name == name).map(|p| p.age).collect();
            assert_eq!(ages, &expected, "values of key {name}, in send order");
        }

        // The same records read over gRPC: one wire format for both paths.
        let mut grpc = t.client.consumer::<PersonV1>("people").subscribe().await.expect("gRPC consumer");
        let mut ages = HashSet::new();
        for _ in 0..61 {
            ages.insert(next_value(&mut grpc).await.value().age);
        }
        assert_eq!(ages.len(), 61);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_sent_over_grpc_are_read_over_kafka_from_an_offset_and_a_timestamp() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let grpc = t.client.producer::<PersonV1>("people").create().await.expect("gRPC producer");
        for i in 0..10 {
            let ts = 1_000_000 + i64::from(i) * 1000;
            let options = SendOptions::default().timestamp_ms(ts);
            grpc.send_with(&PersonV1 { name: format!("p{i}"), age: i }, options).await.expect("stored");
        }
        let kafka = kafka_client(&t).await;
        let mut at_offset =
            kafka.consumer::<PersonV1>("people").from(Position::Offset(7)).subscribe().await.expect("c");
        assert_eq!(next_value(&mut at_offset).await.value().age, 7);
        let mut at_time = kafka
            .consumer::<PersonV1>("people")
            .from(Position::Timestamp(1_004_500))
            .subscribe()
            .await
            .expect("consumer");
        let first = next_value(&mut at_time).await;
        assert_eq!((first.offset(), first.timestamp_ms()), (5, 1_005_000));
        // Seeking goes back.
        at_time.seek(0, 2).expect("seek");
        let mut after_seek = next_value(&mut at_time).await;
        // Records fetched before the seek may still arrive first; the seek's own follow.
        while after_seek.offset() != 2 {
            assert!(
                after_seek.offset() > 5,
                "offset {} is neither before nor the seek's",
                after_seek.offset()
            );
            after_seek = next_value(&mut at_time).await;
        }
        assert_eq!(after_seek.value().name, "p2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_name_the_subject_the_topic_and_the_option() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let kafka = kafka_client(&t).await;

        let err = kafka.producer::<Invoice>("people").create().await.expect_err("not registered");
        match &err {
            ClientError::SchemaNotRegistered { subject, type_name } => {
                assert_eq!((subject.as_str(), type_name.as_str()), ("people-value", "com.example.Invoice"));
            }
            other => panic!("unexpected error: {other}"),
        }

        t.client.register_schema("nowhere-value", PersonV1::schema()).await.expect("register");
        let err = kafka.producer::<PersonV1>("nowhere").create().await.expect_err("no topic");
        assert!(matches!(err, ClientError::UnknownTopic { ref topic } if topic == "nowhere"), "{err}");

        let err =
            kafka.producer::<PersonV1>("people").max_in_flight(32).create().await.expect_err("too many");
        assert!(matches!(err, ClientError::InvalidArgument(ref m) if m.contains("Kafka backend")), "{err}");
        let err = kafka
            .consumer::<PersonV1>("people")
            .group("g")
            .from(Position::Offset(3))
            .subscribe()
            .await
            .expect_err("a group at an offset");
        assert!(matches!(err, ClientError::InvalidArgument(ref m) if m.contains("Kafka backend")), "{err}");

        let producer = kafka.producer::<PersonV1>("people").create().await.expect("producer");
        let err = producer
            .send_with(&PersonV1 { name: "x".into(), age: 1 }, SendOptions::default().partition(5))
            .await
            .expect_err("no partition 5");
        assert!(matches!(err, ClientError::UnknownPartition { partition: 5, .. }), "{err}");

        // Admin calls need a Runnel broker: they fail at once, not after retries.
        let started = std::time::Instant::now();
        assert!(kafka.list_topics().await.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));

        // A wrong registry address fails at connect.
        let mut config = kafka_config(&t);
        config.registry_url = "http://127.0.0.1:9".into();
        config.registry_timeout = Duration::from_millis(200);
        let err = Client::connect_kafka(config).await.expect_err("no registry there");
        assert!(matches!(err, ClientError::Registry { .. }), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_register_registers_compatible_types_over_rest_and_refuses_incompatible_ones() {
        let t = TestServer::start().await;
        t.client.create_topic(NewTopic::new("auto")).await.expect("topic");
        let kafka = Client::connect_kafka(kafka_config(&t).auto_register(true)).await.expect("connects");
        let v1 = kafka.producer::<PersonV1>("auto").create().await.expect("v1 registers");
        let v2 = kafka.producer::<PersonV2>("auto").create().await.expect("v2 is backward compatible");
        assert_ne!(v1.schema_id(), v2.schema_id());
        assert_eq!(t.client.latest_schema("auto-value").await.expect("latest").id, v2.schema_id());
        #[derive(Avro, Debug)]
        #[avro(namespace = "com.example", name = "Person")]
        struct PersonBroken {
            name: String,
            age: String,
        }
        match kafka.producer::<PersonBroken>("auto").create().await.expect_err("incompatible") {
            ClientError::Incompatible { subject, reasons } => {
                assert_eq!(subject, "auto-value");
                assert!(reasons.iter().any(|r| r.contains("/fields/1")), "{reasons:?}");
            }
            other => panic!("unexpected error: {other}"),
        }
    }
}

mod evolution {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_and_new_writers_are_read_by_old_and_new_readers() {
        let t = TestServer::start().await;
        let v1_id = t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let v2_id =
            t.client.register_schema("people-value", PersonV2::schema()).await.expect("v2 registers").id;
        let kafka = kafka_client(&t).await;

        let p1 = kafka.producer::<PersonV1>("people").create().await.expect("v1 producer");
        let p2 = kafka.producer::<PersonV2>("people").create().await.expect("v2 producer");
        assert_eq!((p1.schema_id(), p2.schema_id()), (v1_id, v2_id));
        p1.send(&PersonV1 { name: "ada".into(), age: 36 }).await.expect("v1 record");
        p2.send(&PersonV2 { name: "bob".into(), age: 41, email: Some("bob@example.com".into()) })
            .await
            .expect("v2 record");
        p1.send(&PersonV1 { name: "cy".into(), age: 7 }).await.expect("v1 record");

        // v1 data read as v2: the new field takes its default.
        let mut c2 = kafka.consumer::<PersonV2>("people").subscribe().await.expect("v2 consumer");
        let a = next_value(&mut c2).await;
        assert_eq!(
            (a.schema_id(), a.value()),
            (v1_id, &PersonV2 { name: "ada".into(), age: 36, email: None })
        );
        let b = next_value(&mut c2).await;
        assert_eq!((b.schema_id(), b.value().email.as_deref()), (v2_id, Some("bob@example.com")));
        assert_eq!(next_value(&mut c2).await.value().email, None);

        // v2 data read as v1: the field v1 does not know is skipped.
        let mut c1 = kafka.consumer::<PersonV1>("people").subscribe().await.expect("v1 consumer");
        assert_eq!(next_value(&mut c1).await.into_value(), PersonV1 { name: "ada".into(), age: 36 });
        assert_eq!(next_value(&mut c1).await.into_value(), PersonV1 { name: "bob".into(), age: 41 });
        assert_eq!(next_value(&mut c1).await.into_value(), PersonV1 { name: "cy".into(), age: 7 });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on() {
        let t = TestServer::start().await;
        let reader_id =
            t.client.register_schema("mixed-value", PersonV1::schema()).await.expect("register").id;
        let invoice_id =
            t.client.register_schema("invoices-value", Invoice::schema()).await.expect("register").id;
        t.client.create_topic(NewTopic::new("mixed").validation(Validation::None)).await.expect("topic");
        let raw = RawProducer::start(&t.client, "mixed", ProducerOptions::default()).await.expect("producer");
        let framed = |id: u32, body: Vec<u8>| {
            let mut v = Vec::new();
            runnel::framing::write_header(&mut v, id);
            v.extend(body);
            RawRecord { value: v.into(), ..RawRecord::default() }
        };
        raw.send(framed(invoice_id, runnel::avro::to_vec(&Invoice { number: 1, total: 2.5 })))
            .await
            .expect("sent");
        raw.send(framed(reader_id, runnel::avro::to_vec(&PersonV1 { name: "ada".into(), age: 3 })))
            .await
            .expect("sent");

        let kafka = kafka_client(&t).await;
        let mut consumer = kafka.consumer::<PersonV1>("mixed").subscribe().await.expect("consumer");
        let first = tokio::time::timeout(PATIENCE, consumer.next()).await.expect("in time").expect("an item");
        match first {
            Err(ClientError::Unresolvable { writer_id, reader_id: Some(r), reader, .. }) => {
                assert_eq!((writer_id, r), (invoice_id, reader_id));
                assert_eq!(reader, "com.example.Person");
            }
            other => panic!("expected an unresolvable record, got {other:?}"),
        }
        assert_eq!(next_value(&mut consumer).await.value().name, "ada");
    }
}

mod groups {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_group_consumer_resumes_after_its_committed_offset() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let kafka = kafka_client(&t).await;
        let producer = kafka.producer::<PersonV1>("people").create().await.expect("producer");
        let sends: Vec<_> =
            (0..10).map(|i| producer.send(&PersonV1 { name: format!("p{i}"), age: i })).collect();
        for s in sends {
            s.await.expect("stored");
        }

        let consumer = kafka.consumer::<PersonV1>("people").group("mailer").manual_commit();
        let mut first = consumer.subscribe().await.expect("join");
        let mut last = None;
        for _ in 0..4 {
            last = Some(next_value(&mut first).await);
        }
        let last = last.expect("four messages");
        assert_eq!(last.offset(), 3);
        first.commit_message(&last).await.expect("commit");
        first.close().await.expect("close");

        let mut second =
            kafka.consumer::<PersonV1>("people").group("mailer").subscribe().await.expect("join");
        let msg = next_value(&mut second).await;
        assert_eq!((msg.offset(), msg.value().age), (4, 4));
        msg.ack().await.expect("ack");
        second.commit().await.expect("commit");
        second.close().await.expect("close");

        // The commit is the broker's: a gRPC member of the group resumes after it too.
        let mut third =
            t.client.consumer::<PersonV1>("people").group("mailer").subscribe().await.expect("join");
        assert_eq!(next_value(&mut third).await.offset(), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_group_members_split_the_partitions_and_resume_from_their_commits() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 4, PersonV1::schema()).await;
        let kafka = kafka_client(&t).await;
        let producer = kafka.producer::<PersonV1>("people").key(|p: &PersonV1| p.name.clone()).create();
        let producer = producer.await.expect("producer");
        let send_all = |range: std::ops::Range<i32>| {
            let sends: Vec<_> =
                range.map(|i| producer.send(&PersonV1 { name: format!("k{i}"), age: i })).collect();
            async move {
                for s in sends {
                    s.await.expect("stored");
                }
            }
        };
        let group = |kafka: &Client| {
            kafka
                .consumer::<PersonV1>("people")
                .group("g")
                .session_timeout(Duration::from_secs(6))
                .subscribe()
        };
        let mut a = group(&kafka).await.expect("a joins");
        let mut b = group(&kafka).await.expect("b joins");
        // Membership moves on while the consumers are read (as with any
        // librdkafka consumer): read both until the group has settled.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !(a.assignment().len() == 2 && b.assignment().len() == 2) {
            tokio::select! {
                item = a.next() => panic!("a read {item:?} from an empty topic"),
                item = b.next() => panic!("b read {item:?} from an empty topic"),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no rebalance to two members: {:?} and {:?}",
                a.assignment(),
                b.assignment()
            );
        }
        let (pa, pb): (HashSet<u32>, HashSet<u32>) =
            (a.assignment().into_iter().collect(), b.assignment().into_iter().collect());
        assert!(pa.is_disjoint(&pb), "{pa:?} and {pb:?} overlap");

        // Each reads only its own partitions; together, every record once.
        send_all(0..40).await;
        let mut ages = HashSet::new();
        let (mut from_a, mut from_b) = (0, 0);
        while ages.len() < 40 {
            tokio::select! {
                Some(m) = a.next() => {
                    let m = m.expect("a message");
                    assert!(pa.contains(&m.partition()), "a read partition {}", m.partition());
                    assert!(ages.insert(m.value().age), "record {} read twice", m.value().age);
                    from_a += 1;
                }
                Some(m) = b.next() => {
                    let m = m.expect("b message");
                    assert!(pb.contains(&m.partition()), "b read partition {}", m.partition());
                    assert!(ages.insert(m.value().age), "record {} read twice", m.value().age);
                    from_b += 1;
                }
                _ = tokio::time::sleep_until(deadline) => panic!("only {} of 40 records read", ages.len()),
            }
        }
        assert!(from_a > 0 && from_b > 0, "a read {from_a}, b read {from_b}");
        a.commit().await.expect("a commits");
        b.commit().await.expect("b commits");
        a.close().await.expect("a leaves");
        b.close().await.expect("b leaves");

        // A new member resumes after the commits: only the records sent since.
        send_all(40..50).await;
        let mut c = group(&kafka).await.expect("c joins");
        let mut later = HashSet::new();
        while later.len() < 10 {
            let m = next_value(&mut c).await;
            assert!(m.value().age >= 40, "record {} was committed already", m.value().age);
            later.insert(m.value().age);
        }
        assert_eq!(c.assignment(), vec![0, 1, 2, 3]);
    }
}
