//! End-to-end tests of the public client API (`runnel::Client`, `Producer<T>`,
//! `Consumer<T>`, the raw producer and consumer) against a real server started
//! in-process on free ports. The typed behaviour both transports share is
//! written in `common/typed.rs` and run here over gRPC.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::typed::{self as shared, Invoice, PersonV1};
use common::{eventually, next_message as next_value, TestServer, PATIENCE};
use runnel::{Avro, ClientError, NewTopic, Position, ProducerOptions, RawProducer, RawRecord, SendOptions};

mod typed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn values_round_trip_with_keys_headers_and_order_per_key() {
        let t = TestServer::start().await;
        shared::values_round_trip_with_keys_headers_and_order_per_key(&t, &t.client).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn producer_of_an_unregistered_type_is_refused_with_the_command_to_run() {
        let t = TestServer::start().await;
        shared::producer_of_an_unregistered_type_is_refused_with_the_command_to_run(&t, &t.client).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_land_whole_in_order_on_one_partition() {
        let t = TestServer::start().await;
        shared::batches_land_whole_in_order_on_one_partition(&t, &t.client).await;
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
        shared::auto_register_registers_compatible_types_and_refuses_incompatible_ones(&t, &t.client).await;
    }
}

mod evolution {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_and_new_writers_are_read_by_old_and_new_readers() {
        let t = TestServer::start().await;
        shared::old_and_new_writers_are_read_by_old_and_new_readers(&t, &t.client).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on() {
        let t = TestServer::start().await;
        shared::unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on(&t, &t.client)
            .await;
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

mod batches {
    use super::*;
    use runnel_broker::{RunningServer, ServerConfig};

    /// A server that refuses records over 1000 bytes, with a topic `people` of `PersonV1`.
    async fn server_with_small_records() -> (tempfile::TempDir, RunningServer, runnel::Client) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = ServerConfig::ephemeral(dir.path());
        config.max_record_bytes = 1000;
        let server = runnel_broker::start(config).await.expect("server starts");
        let client = runnel::Client::connect(server.grpc_url()).await.expect("client");
        client.register_schema("people-value", PersonV1::schema()).await.expect("schema");
        client.create_topic(NewTopic::new("people")).await.expect("topic");
        (dir, server, client)
    }

    /// A batch sent right behind a record the broker refuses is taken back (the
    /// sequence has a gap) and sent again under new sequence numbers: stored once,
    /// whole, and nothing of the refused record.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_behind_a_refused_record_is_resent_and_stored_once() {
        let (_dir, server, client) = server_with_small_records().await;
        let producer = client.producer::<PersonV1>("people").create().await.expect("producer");

        let big = producer.send(&PersonV1 { name: "x".repeat(2000), age: -1 });
        let people: Vec<PersonV1> = (0..50).map(|i| PersonV1 { name: format!("p{i}"), age: i }).collect();
        let batch = producer.send_batch(&people);
        let (big, batch) = tokio::join!(big, batch);
        assert!(matches!(big, Err(ClientError::Refused { .. }) | Err(ClientError::Broker { .. })), "{big:?}");
        let batch = batch.expect("the batch is stored");
        assert_eq!((batch.base_offset, batch.count), (0, 50));
        let after = producer.send_batch(&people[..3]).await.expect("stored");
        assert_eq!(after.base_offset, 50);

        let info = client.describe_topic("people").await.expect("describe");
        assert_eq!(info.partitions[0].high_watermark, 53);
        let mut consumer = client.consumer::<PersonV1>("people").subscribe().await.expect("consumer");
        for i in 0..50 {
            assert_eq!(next_value(&mut consumer).await.value().age, i);
        }
        server.shutdown().await.expect("shutdown");
    }

    /// `next_batch` hands out what is fetched a batch at a time, decoding into the
    /// previous batch's values; a record that does not decode ends its batch and is the
    /// next call's error, and the records after it still come.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_reads_batches_and_a_bad_record_is_the_next_calls_error() {
        let t = TestServer::start().await;
        let id = t.client.register_schema("mixed-value", PersonV1::schema()).await.expect("schema").id;
        t.client
            .create_topic(NewTopic::new("mixed").validation(runnel::Validation::None))
            .await
            .expect("topic");
        let producer = t.client.producer::<PersonV1>("mixed").create().await.expect("producer");
        let people: Vec<PersonV1> = (0..30).map(|i| PersonV1 { name: format!("p{i}"), age: i }).collect();
        producer.send_batch(&people[..20]).await.expect("stored");
        let raw = RawProducer::start(&t.client, "mixed", ProducerOptions::default()).await.expect("raw");
        let mut truncated = Vec::new();
        runnel::framing::write_header(&mut truncated, id);
        truncated.extend([10, b'a']); // a 5-byte string with 1 byte
        raw.send(RawRecord { value: truncated.into(), ..RawRecord::default() }).await.expect("stored");
        producer.send_batch(&people[20..]).await.expect("stored");

        let mut consumer = t.client.consumer::<PersonV1>("mixed").subscribe().await.expect("consumer");
        let mut batch = Vec::new();
        let mut ages = Vec::new();
        let mut errors = Vec::new();
        while ages.len() < 30 {
            match tokio::time::timeout(PATIENCE, consumer.next_batch(&mut batch, 7)).await.expect("in time") {
                Ok(n) => {
                    assert!((1..=7).contains(&n) && n == batch.len(), "{n} of {}", batch.len());
                    for msg in &batch {
                        assert_eq!(
                            msg.offset(),
                            i64::from(msg.value().age) + i64::from(msg.value().age >= 20)
                        );
                        ages.push(msg.value().age);
                    }
                }
                Err(e) => errors.push((ages.len(), e)),
            }
        }
        assert_eq!(ages, (0..30).collect::<Vec<_>>());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 20, "the error comes after the 20 good records before it");
        assert!(matches!(errors[0].1, ClientError::Decode { .. }), "{:?}", errors[0].1);
    }

    /// A value the broker refuses fails its whole batch, naming its index; nothing
    /// of the batch is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_value_fails_its_whole_batch_and_nothing_is_stored() {
        let (_dir, server, client) = server_with_small_records().await;
        let producer = client.producer::<PersonV1>("people").create().await.expect("producer");
        let mut people: Vec<PersonV1> = (0..10).map(|i| PersonV1 { name: format!("p{i}"), age: i }).collect();
        people[7].name = "x".repeat(2000);
        let err = producer.send_batch(&people).await.expect_err("refused");
        assert!(err.to_string().contains("record 7"), "{err}");
        let info = client.describe_topic("people").await.expect("describe");
        assert_eq!(info.partitions[0].high_watermark, 0);
        // The producer goes on.
        let ok = producer.send_batch(&people[..7]).await.expect("stored");
        assert_eq!((ok.base_offset, ok.count), (0, 7));
        server.shutdown().await.expect("shutdown");
    }

    /// A batch over what one request may carry (64 MiB) fails at once, as too large,
    /// rather than breaking the stream on every retry until the delivery timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_over_the_message_limit_fails_at_once() {
        let t = TestServer::start().await;
        t.client.register_schema("huge-value", PersonV1::schema()).await.expect("schema");
        t.client.create_topic(NewTopic::new("huge")).await.expect("topic");
        let producer = t.client.producer::<PersonV1>("huge").create().await.expect("producer");
        let people: Vec<PersonV1> = (0..65).map(|i| PersonV1 { name: "x".repeat(1 << 20), age: i }).collect();
        let err = tokio::time::timeout(PATIENCE, producer.send_batch(&people))
            .await
            .expect("answered at once")
            .expect_err("too large");
        assert!(
            matches!(&err, ClientError::Broker { .. }) && format!("{err:?}").contains("TooLarge"),
            "{err:?}"
        );
        let ok = producer.send_batch(&people[..1]).await.expect("stored");
        assert_eq!((ok.base_offset, ok.count), (0, 1));
    }
}

mod groups {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_group_consumer_resumes_after_its_committed_offset() {
        let t = TestServer::start().await;
        shared::a_restarted_group_consumer_resumes_after_its_committed_offset(&t, &t.client).await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_across_a_broker_restart_are_stored_once() {
        let mut t = TestServer::start().await;
        t.topic_with_schema("people", 1, PersonV1::schema()).await;
        let producer = t.client.producer::<PersonV1>("people").create().await.expect("producer");
        let people = |from: i32| -> Vec<PersonV1> {
            (from..from + 20).map(|i| PersonV1 { name: format!("p{i}"), age: i }).collect()
        };
        producer.send_batch(&people(0)).await.expect("stored");
        t.restart().await;
        let after = producer.send_batch(&people(20)).await.expect("stored after restart");
        assert_eq!((after.base_offset, after.count), (20, 20));
        let info = t.client.describe_topic("people").await.expect("describe");
        assert_eq!(info.partitions[0].high_watermark, 40);
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
