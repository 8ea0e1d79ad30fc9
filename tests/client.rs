//! End-to-end tests of the public client API (`runnel::Client`, `Producer<T>`,
//! `Consumer<T>`, the raw producer and consumer) against a real server started
//! in-process on free ports.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{eventually, TestServer};
use runnel::{
    Avro, ClientError, NewTopic, Position, ProducerOptions, RawProducer, RawRecord, SendOptions, Validation,
};

/// Long enough for anything a healthy server does; only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(20);

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
    async fn values_round_trip_with_keys_headers_and_order_per_key() {
        let t = TestServer::start().await;
        let id = t.topic_with_schema("people", 3, PersonV1::schema()).await;
        let producer = t
            .client
            .producer::<PersonV1>("people")
            .key(|p: &PersonV1| p.name.clone())
            .create()
            .await
            .expect("producer");
        assert_eq!(producer.schema_id(), id);

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
                SendOptions::default().header("trace", "abc"),
            )
            .await
            .expect("stored");
        producer.flush().await.expect("flush");
        // Records of one key share a partition.
        let mut partition_of: BTreeMap<String, u32> = BTreeMap::new();
        for (p, meta) in people.iter().zip(&stored) {
            assert_eq!(*partition_of.entry(p.name.clone()).or_insert(meta.partition), meta.partition);
        }

        let mut consumer = t
            .client
            .consumer::<PersonV1>("people")
            .from(Position::Earliest)
            .subscribe()
            .await
            .expect("consumer");
        let mut seen: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        let mut found_tagged = false;
        for _ in 0..61 {
            let msg = next_value(&mut consumer).await;
            assert_eq!(msg.schema_id(), id);
            if msg.value().name == "tagged" {
                assert_eq!(msg.header("trace"), Some(&b"abc"[..]));
                assert_eq!((msg.partition(), msg.offset()), (tagged.partition, tagged.offset));
                found_tagged = true;
                continue;
            }
            assert_eq!(msg.key(), Some(msg.value().name.as_bytes()));
            seen.entry(msg.value().name.clone()).or_default().push(msg.value().age);
        }
        assert!(found_tagged);
        // Every value, once, in send order per key.
        for (name, ages) in &seen {
            let expected: Vec<i32> = people.iter().filter(|p| &p.name == name).map(|p| p.age).collect();
            assert_eq!(ages, &expected, "values of key {name}");
        }
        assert_eq!(seen.values().map(Vec::len).sum::<usize>(), 60);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn producer_of_an_unregistered_type_is_refused_with_the_command_to_run() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let err = t.client.producer::<Invoice>("people").create().await.expect_err("must be refused");
        match &err {
            ClientError::SchemaNotRegistered { subject, type_name } => {
                assert_eq!(subject, "people-value");
                assert_eq!(type_name, "com.example.Invoice");
            }
            other => panic!("unexpected error: {other}"),
        }
        assert!(err.to_string().contains("runnel schema register people-value"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn producer_on_a_missing_topic_fails_with_unknown_topic() {
        let t = TestServer::start().await;
        let err = t.client.producer::<PersonV1>("nowhere").create().await.expect_err("no topic");
        assert!(matches!(err, ClientError::UnknownTopic { ref topic } if topic == "nowhere"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_register_topic_registers_compatible_types_and_refuses_incompatible_ones() {
        let t = TestServer::start().await;
        t.client.create_topic(NewTopic::new("auto").auto_register(true)).await.expect("topic");
        let v1 = t.client.producer::<PersonV1>("auto").create().await.expect("v1 registers");
        let v2 = t.client.producer::<PersonV2>("auto").create().await.expect("v2 is backward compatible");
        assert_ne!(v1.schema_id(), v2.schema_id());
        // A Person whose age became a string cannot read the earlier versions.
        #[derive(Avro, Debug)]
        #[avro(namespace = "com.example", name = "Person")]
        struct PersonBroken {
            name: String,
            age: String,
        }
        let err = t.client.producer::<PersonBroken>("auto").create().await.expect_err("incompatible");
        match err {
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
        assert_ne!(v1_id, v2_id);

        let p1 = t.client.producer::<PersonV1>("people").create().await.expect("v1 producer");
        let p2 = t.client.producer::<PersonV2>("people").create().await.expect("v2 producer");
        p1.send(&PersonV1 { name: "ada".into(), age: 36 }).await.expect("v1 record");
        p2.send(&PersonV2 { name: "bob".into(), age: 41, email: Some("bob@example.com".into()) })
            .await
            .expect("v2 record");

        // v1 data read as v2: the new field takes its default.
        let mut c2 = t.client.consumer::<PersonV2>("people").subscribe().await.expect("v2 consumer");
        let a = next_value(&mut c2).await;
        assert_eq!(
            (a.schema_id(), a.value()),
            (v1_id, &PersonV2 { name: "ada".into(), age: 36, email: None })
        );
        let b = next_value(&mut c2).await;
        assert_eq!(b.schema_id(), v2_id);
        assert_eq!(b.value().email.as_deref(), Some("bob@example.com"));

        // v2 data read as v1: the field v1 does not know is skipped.
        let mut c1 = t.client.consumer::<PersonV1>("people").subscribe().await.expect("v1 consumer");
        assert_eq!(next_value(&mut c1).await.into_value(), PersonV1 { name: "ada".into(), age: 36 });
        assert_eq!(next_value(&mut c1).await.into_value(), PersonV1 { name: "bob".into(), age: 41 });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on() {
        let t = TestServer::start().await;
        // A topic without validation can hold records of any schema.
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

        let mut consumer = t.client.consumer::<PersonV1>("mixed").subscribe().await.expect("consumer");
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

mod refusal {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_record_fails_its_own_future_and_the_others_are_stored() {
        let t = TestServer::start().await;
        let id = t.topic_with_schema("people", 1, PersonV1::schema()).await;
        // A long linger puts the three records in one batch.
        let raw = RawProducer::start(
            &t.client,
            "people",
            ProducerOptions { linger: Duration::from_millis(200), ..ProducerOptions::default() },
        )
        .await
        .expect("producer");
        let valid = |name: &str| {
            let mut v = Vec::new();
            runnel::framing::write_header(&mut v, id);
            v.extend(runnel::avro::to_vec(&PersonV1 { name: name.into(), age: 1 }));
            RawRecord { value: v.into(), ..RawRecord::default() }
        };
        let mut truncated = Vec::new();
        runnel::framing::write_header(&mut truncated, id);
        truncated.extend([10, b'a']); // a 5-byte string with 1 byte
        let first = raw.send(valid("first"));
        let bad = raw.send(RawRecord { value: truncated.into(), ..RawRecord::default() });
        let last = raw.send(valid("last"));
        let (first, bad, last) = tokio::join!(first, bad, last);
        match bad {
            Err(ClientError::Refused { record_index, .. }) => assert_eq!(record_index, 1),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let (first, last) = (first.expect("first stored"), last.expect("last stored"));
        assert_eq!((first.offset, last.offset), (0, 1));

        let mut consumer = t.client.consumer::<PersonV1>("people").subscribe().await.expect("consumer");
        assert_eq!(next_value(&mut consumer).await.value().name, "first");
        assert_eq!(next_value(&mut consumer).await.value().name, "last");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_in_flight_behind_a_refused_one_are_stored_once_and_in_order() {
        let t = TestServer::start().await;
        let id = t.topic_with_schema("people", 1, PersonV1::schema()).await;
        // Two records per batch: ten records are five batches in flight at once.
        let options = ProducerOptions { batch_records: 2, ..ProducerOptions::default() };
        let raw = RawProducer::start(&t.client, "people", options).await.expect("producer");
        let record = |i: i32| {
            let mut v = Vec::new();
            runnel::framing::write_header(&mut v, id);
            if i == 3 {
                v.extend([10, b'a']); // truncated: refused
            } else {
                v.extend(runnel::avro::to_vec(&PersonV1 { name: format!("p{i}"), age: i }));
            }
            RawRecord { value: v.into(), ..RawRecord::default() }
        };
        let sends: Vec<_> = (0..10).map(|i| raw.send(record(i))).collect();
        let results = futures::future::join_all(sends).await;
        assert!(matches!(results[3], Err(ClientError::Refused { .. })), "{:?}", results[3]);
        let offsets: Vec<i64> = results
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, r)| r.as_ref().expect("stored").offset)
            .collect();
        assert_eq!(offsets, (0..9).collect::<Vec<i64>>());

        let info = t.client.describe_topic("people").await.expect("describe");
        assert_eq!(info.partitions[0].high_watermark, 9);
        let mut consumer = t.client.consumer::<PersonV1>("people").subscribe().await.expect("consumer");
        for i in (0..10).filter(|&i| i != 3) {
            assert_eq!(next_value(&mut consumer).await.value().age, i);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_with_a_foreign_schema_id_is_refused() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let foreign =
            t.client.register_schema("invoices-value", Invoice::schema()).await.expect("register").id;
        let raw =
            RawProducer::start(&t.client, "people", ProducerOptions::default()).await.expect("producer");
        let mut v = Vec::new();
        runnel::framing::write_header(&mut v, foreign);
        v.extend(runnel::avro::to_vec(&Invoice { number: 1, total: 1.0 }));
        let err = raw.send(RawRecord { value: v.into(), ..RawRecord::default() }).await.expect_err("refused");
        assert!(matches!(err, ClientError::Refused { .. }), "{err}");
    }
}

mod groups {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_group_consumer_resumes_after_its_committed_offset() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let producer = t.client.producer::<PersonV1>("people").create().await.expect("producer");
        let sends: Vec<_> =
            (0..10).map(|i| producer.send(&PersonV1 { name: format!("p{i}"), age: i })).collect();
        for s in sends {
            s.await.expect("stored");
        }

        let mut first = t
            .client
            .consumer::<PersonV1>("people")
            .group("mailer")
            .manual_commit()
            .subscribe()
            .await
            .expect("join");
        let mut last = None;
        for _ in 0..4 {
            last = Some(next_value(&mut first).await);
        }
        let last = last.expect("four messages");
        assert_eq!(last.offset(), 3);
        first.commit_message(&last).await.expect("commit");
        first.close().await.expect("close");

        let mut second =
            t.client.consumer::<PersonV1>("people").group("mailer").subscribe().await.expect("join");
        let msg = next_value(&mut second).await;
        assert_eq!((msg.offset(), msg.value().age), (4, 4));
        // ack + commit moves the group on.
        msg.ack().await.expect("ack");
        second.commit().await.expect("commit");
        second.close().await.expect("close");
        let mut third =
            t.client.consumer::<PersonV1>("people").group("mailer").subscribe().await.expect("join");
        assert_eq!(next_value(&mut third).await.offset(), 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_group_members_split_the_partitions_and_together_read_everything() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 4, PersonV1::schema()).await;
        let producer =
            t.client.producer::<PersonV1>("people").key(|p: &PersonV1| p.name.clone()).create().await;
        let producer = producer.expect("producer");
        let sends: Vec<_> =
            (0..40).map(|i| producer.send(&PersonV1 { name: format!("k{i}"), age: i })).collect();
        for s in sends {
            s.await.expect("stored");
        }

        let mut a = t.client.consumer::<PersonV1>("people").group("g").subscribe().await.expect("a joins");
        eventually(PATIENCE, "a owns every partition", || a.assignment().len() == 4).await;
        let mut b = t.client.consumer::<PersonV1>("people").group("g").subscribe().await.expect("b joins");
        eventually(PATIENCE, "a rebalance to two members", || {
            a.assignment().len() == 2 && b.assignment().len() == 2
        })
        .await;
        let (pa, pb): (HashSet<u32>, HashSet<u32>) =
            (a.assignment().into_iter().collect(), b.assignment().into_iter().collect());
        assert!(pa.is_disjoint(&pb), "{pa:?} and {pb:?} overlap");

        // Each reads its own partitions' records; together, all of them.
        let mut ages = HashSet::new();
        let mut from_b = 0;
        while ages.len() < 40 {
            tokio::select! {
                Some(m) = a.next() => {
                    let m = m.expect("a message");
                    if pa.contains(&m.partition()) { ages.insert(m.value().age); }
                }
                Some(m) = b.next() => {
                    let m = m.expect("b message");
                    assert!(pb.contains(&m.partition()));
                    from_b += 1;
                    ages.insert(m.value().age);
                }
                _ = tokio::time::sleep(PATIENCE) => panic!("only {} of 40 records read", ages.len()),
            }
        }
        assert!(from_b > 0);
    }
}

mod positions {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consumers_start_at_an_offset_or_latest_and_can_seek() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let producer = t.client.producer::<PersonV1>("people").create().await.expect("producer");
        for i in 0..5 {
            producer.send(&PersonV1 { name: format!("p{i}"), age: i }).await.expect("stored");
        }
        let mut at3 =
            t.client.consumer::<PersonV1>("people").from(Position::Offset(3)).subscribe().await.expect("c");
        assert_eq!(next_value(&mut at3).await.offset(), 3);
        at3.seek(0, 1).expect("seek");
        assert_eq!(next_value(&mut at3).await.offset(), 1);

        let mut latest =
            t.client.consumer::<PersonV1>("people").from(Position::Latest).subscribe().await.expect("c");
        producer.send(&PersonV1 { name: "new".into(), age: 5 }).await.expect("stored");
        let msg = next_value(&mut latest).await;
        assert_eq!((msg.offset(), msg.value().name.as_str()), (5, "new"));
    }
}

mod timestamps {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_from_a_timestamp_starts_at_the_first_record_at_or_after_it() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let producer = t.client.producer::<PersonV1>("people").create().await.expect("producer");
        for (i, ts) in [1_000i64, 2_000, 3_000, 4_000].into_iter().enumerate() {
            let p = PersonV1 { name: format!("p{i}"), age: i as i32 };
            producer.send_with(&p, SendOptions::default().timestamp_ms(ts)).await.expect("stored");
        }
        let mut consumer = t
            .client
            .consumer::<PersonV1>("people")
            .from(Position::Timestamp(2_500))
            .subscribe()
            .await
            .expect("c");
        let msg = next_value(&mut consumer).await;
        assert_eq!((msg.offset(), msg.timestamp_ms()), (2, 3_000));
    }
}

mod resilience {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_across_a_broker_restart_are_stored_once() {
        let mut t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let producer = t.client.producer::<PersonV1>("people").create().await.expect("producer");
        for i in 0..3 {
            producer.send(&PersonV1 { name: format!("before{i}"), age: i }).await.expect("stored");
        }
        t.restart().await;
        // The same client and producer carry on once the server is back.
        for i in 3..6 {
            producer
                .send(&PersonV1 { name: format!("after{i}"), age: i })
                .await
                .expect("stored after restart");
        }
        let info = t.client.describe_topic("people").await.expect("describe");
        assert_eq!(info.partitions[0].high_watermark, 6);
        let mut consumer = t.client.consumer::<PersonV1>("people").subscribe().await.expect("consumer");
        for i in 0..6 {
            assert_eq!(next_value(&mut consumer).await.value().age, i);
        }
    }
}

mod flow {
    use super::*;
    use futures::StreamExt;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_buffer_makes_sends_wait_and_flush_waits_for_every_record() {
        let t = TestServer::start().await;
        t.topic_with_schema("people", 2, PersonV1::schema()).await;
        // Room for 3 records: the other sends wait their turn instead of failing.
        let producer = t
            .client
            .producer::<PersonV1>("people")
            .buffer_records(3)
            .batch_records(2)
            .create()
            .await
            .expect("producer");
        let sends: Vec<_> =
            (0..20).map(|i| producer.send(&PersonV1 { name: format!("p{i}"), age: i })).collect();
        let spawned = tokio::spawn(futures::future::join_all(sends));
        producer.flush().await.expect("flush");
        let results = spawned.await.expect("joined");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let total: i64 = t
            .client
            .describe_topic("people")
            .await
            .expect("describe")
            .partitions
            .iter()
            .map(|p| p.high_watermark)
            .sum();
        assert_eq!(total, 20);

        // The consumer is a Stream too.
        let consumer = t.client.consumer::<PersonV1>("people").subscribe().await.expect("consumer");
        let mut ages: Vec<i32> =
            consumer.take(20).map(|m| m.expect("message").into_value().age).collect::<Vec<_>>().await;
        ages.sort_unstable();
        assert_eq!(ages, (0..20).collect::<Vec<_>>());
    }
}
