//! The typed client's behaviour, written once and run over each transport:
//! tests/client.rs passes the server's gRPC client, tests/kafka_typed.rs a
//! client of the server's Kafka listener (`Client::connect_kafka`). Topics and
//! schemas are set up over gRPC (`t.client`); `client` is the one under test.

use std::collections::BTreeMap;

use runnel::{
    partition_for_key, Avro, Client, ClientError, NewTopic, Position, ProducerOptions, RawProducer,
    RawRecord, SendOptions, Validation,
};

use super::{next_message, TestServer, PATIENCE};

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example", name = "Person")]
pub struct PersonV1 {
    pub name: String,
    pub age: i32,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example", name = "Person")]
pub struct PersonV2 {
    pub name: String,
    pub age: i32,
    #[avro(default = "null")]
    pub email: Option<String>,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example")]
pub struct Invoice {
    pub number: i64,
    pub total: f64,
}

/// 60 keyed values and a tagged one on a 3-partition topic come back once
/// each, with their keys, headers and timestamps, in send order per key, from
/// the partition Kafka's partitioner picks for their key.
pub async fn values_round_trip_with_keys_headers_and_order_per_key(t: &TestServer, client: &Client) {
    let id = t.topic_with_schema("people", 3, PersonV1::schema()).await;
    let producer = client
        .producer::<PersonV1>("people")
        .key(|p: &PersonV1| p.name.clone())
        .create()
        .await
        .expect("producer");
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
    // Records of one key share a partition: where Kafka's (and Runnel's gRPC) partitioner puts them.
    let mut partition_of: BTreeMap<String, u32> = BTreeMap::new();
    for (p, meta) in people.iter().zip(&stored) {
        assert_eq!(*partition_of.entry(p.name.clone()).or_insert(meta.partition), meta.partition);
        assert_eq!(meta.partition, partition_for_key(p.name.as_bytes(), 3), "partition of {}", p.name);
    }

    let mut consumer =
        client.consumer::<PersonV1>("people").from(Position::Earliest).subscribe().await.expect("consumer");
    let mut seen: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut found_tagged = false;
    for _ in 0..61 {
        let msg = next_message(&mut consumer).await;
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
    // Every value, once, in send order per key.
    for (name, ages) in &seen {
        let expected: Vec<i32> = people.iter().filter(|p| &p.name == name).map(|p| p.age).collect();
        assert_eq!(ages, &expected, "values of key {name}, in send order");
    }
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), 60);
}

/// A type whose schema is not a version of the topic's subject is refused at
/// `create()`, naming the subject, the type and the command that registers it.
pub async fn producer_of_an_unregistered_type_is_refused_with_the_command_to_run(
    t: &TestServer,
    client: &Client,
) {
    t.topic_with_schema("people", 1, PersonV1::schema()).await;
    let err = client.producer::<Invoice>("people").create().await.expect_err("must be refused");
    match &err {
        ClientError::SchemaNotRegistered { subject, type_name } => {
            assert_eq!((subject.as_str(), type_name.as_str()), ("people-value", "com.example.Invoice"));
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("runnel schema register people-value"), "{err}");
}

/// On a topic `client` may auto-register on ("auto"): compatible types are
/// registered as new versions, an incompatible one is refused with its reasons.
pub async fn auto_register_registers_compatible_types_and_refuses_incompatible_ones(
    t: &TestServer,
    client: &Client,
) {
    let v1 = client.producer::<PersonV1>("auto").create().await.expect("v1 registers");
    let v2 = client.producer::<PersonV2>("auto").create().await.expect("v2 is backward compatible");
    assert_ne!(v1.schema_id(), v2.schema_id());
    assert_eq!(t.client.latest_schema("auto-value").await.expect("latest").id, v2.schema_id());
    // A Person whose age became a string cannot read the earlier versions.
    #[derive(Avro, Debug)]
    #[avro(namespace = "com.example", name = "Person")]
    struct PersonBroken {
        name: String,
        age: String,
    }
    match client.producer::<PersonBroken>("auto").create().await.expect_err("incompatible") {
        ClientError::Incompatible { subject, reasons } => {
            assert_eq!(subject, "auto-value");
            assert!(reasons.iter().any(|r| r.contains("/fields/1")), "{reasons:?}");
        }
        other => panic!("unexpected error: {other}"),
    }
}

/// v1 and v2 writers on one topic; a v2 reader sees v1 values with the new
/// field's default, a v1 reader skips the field it does not know.
pub async fn old_and_new_writers_are_read_by_old_and_new_readers(t: &TestServer, client: &Client) {
    let v1_id = t.topic_with_schema("people", 1, PersonV1::schema()).await;
    let v2_id = t.client.register_schema("people-value", PersonV2::schema()).await.expect("v2 registers").id;
    assert_ne!(v1_id, v2_id);

    let p1 = client.producer::<PersonV1>("people").create().await.expect("v1 producer");
    let p2 = client.producer::<PersonV2>("people").create().await.expect("v2 producer");
    assert_eq!((p1.schema_id(), p2.schema_id()), (v1_id, v2_id));
    p1.send(&PersonV1 { name: "ada".into(), age: 36 }).await.expect("v1 record");
    p2.send(&PersonV2 { name: "bob".into(), age: 41, email: Some("bob@example.com".into()) })
        .await
        .expect("v2 record");
    p1.send(&PersonV1 { name: "cy".into(), age: 7 }).await.expect("v1 record");

    // v1 data read as v2: the new field takes its default.
    let mut c2 = client.consumer::<PersonV2>("people").subscribe().await.expect("v2 consumer");
    let a = next_message(&mut c2).await;
    assert_eq!((a.schema_id(), a.value()), (v1_id, &PersonV2 { name: "ada".into(), age: 36, email: None }));
    let b = next_message(&mut c2).await;
    assert_eq!(b.schema_id(), v2_id);
    assert_eq!(b.value().email.as_deref(), Some("bob@example.com"));
    assert_eq!(next_message(&mut c2).await.value().email, None);

    // v2 data read as v1: the field v1 does not know is skipped.
    let mut c1 = client.consumer::<PersonV1>("people").subscribe().await.expect("v1 consumer");
    assert_eq!(next_message(&mut c1).await.into_value(), PersonV1 { name: "ada".into(), age: 36 });
    assert_eq!(next_message(&mut c1).await.into_value(), PersonV1 { name: "bob".into(), age: 41 });
    assert_eq!(next_message(&mut c1).await.into_value(), PersonV1 { name: "cy".into(), age: 7 });
}

/// A record whose writer schema cannot be read as the consumer's type is an
/// error item naming both schema ids; the next record still comes.
pub async fn unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on(
    t: &TestServer,
    client: &Client,
) {
    // A topic without validation can hold records of any schema.
    let reader_id = t.client.register_schema("mixed-value", PersonV1::schema()).await.expect("register").id;
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

    let mut consumer = client.consumer::<PersonV1>("mixed").subscribe().await.expect("consumer");
    let first = tokio::time::timeout(PATIENCE, consumer.next()).await.expect("in time").expect("an item");
    match first {
        Err(ClientError::Unresolvable { writer_id, reader_id: Some(r), reader, .. }) => {
            assert_eq!((writer_id, r), (invoice_id, reader_id));
            assert_eq!(reader, "com.example.Person");
        }
        other => panic!("expected an unresolvable record, got {other:?}"),
    }
    assert_eq!(next_message(&mut consumer).await.value().name, "ada");
}

/// A group member commits after four records and leaves; the next member
/// resumes after the commit, acks and commits one more; a member over gRPC
/// resumes after that (group offsets are the broker's, whatever the transport).
pub async fn a_restarted_group_consumer_resumes_after_its_committed_offset(t: &TestServer, client: &Client) {
    t.topic_with_schema("people", 1, PersonV1::schema()).await;
    let producer = client.producer::<PersonV1>("people").create().await.expect("producer");
    let sends: Vec<_> = (0..10).map(|i| producer.send(&PersonV1 { name: format!("p{i}"), age: i })).collect();
    for s in sends {
        s.await.expect("stored");
    }

    let mut first = client
        .consumer::<PersonV1>("people")
        .group("mailer")
        .manual_commit()
        .subscribe()
        .await
        .expect("join");
    let mut last = None;
    for _ in 0..4 {
        last = Some(next_message(&mut first).await);
    }
    let last = last.expect("four messages");
    assert_eq!(last.offset(), 3);
    first.commit_message(&last).await.expect("commit");
    first.close().await.expect("close");

    let mut second = client.consumer::<PersonV1>("people").group("mailer").subscribe().await.expect("join");
    let msg = next_message(&mut second).await;
    assert_eq!((msg.offset(), msg.value().age), (4, 4));
    // ack + commit moves the group on.
    msg.ack().await.expect("ack");
    second.commit().await.expect("commit");
    second.close().await.expect("close");

    let mut third = t.client.consumer::<PersonV1>("people").group("mailer").subscribe().await.expect("join");
    assert_eq!(next_message(&mut third).await.offset(), 5);
}

/// Whole batches (`send_batch`) on a 3-partition topic, between single sends: each
/// lands on one partition, in order, answered once with its first offset and count;
/// keys choose the batch's partition as they do a record's; a batch whose keys
/// choose different partitions, an empty batch and an unknown partition are refused
/// before anything is sent.
pub async fn batches_land_whole_in_order_on_one_partition(t: &TestServer, client: &Client) {
    t.topic_with_schema("people", 3, PersonV1::schema()).await;
    let producer = client.producer::<PersonV1>("people").create().await.expect("producer");
    let people = |from: i32, n: i32| -> Vec<PersonV1> {
        (from..from + n).map(|i| PersonV1 { name: format!("p{i}"), age: i }).collect()
    };
    let first = producer.send_batch_to(2, &people(0, 40));
    let single = producer.send_batch_to(2, &people(40, 1));
    let second = producer.send_batch_to(2, people(41, 60).iter());
    let (first, single, second) = (
        first.await.expect("first batch stored"),
        single.await.expect("one-value batch stored"),
        second.await.expect("second batch stored"),
    );
    assert_eq!((first.partition, first.base_offset, first.count), (2, 0, 40));
    assert_eq!((single.partition, single.base_offset, single.count), (2, 40, 1));
    assert_eq!((second.partition, second.base_offset, second.count), (2, 41, 60));
    assert_eq!(second.offsets(), 41..101);
    let mut consumer =
        client.consumer::<PersonV1>("people").from(Position::Earliest).subscribe().await.expect("consumer");
    for i in 0..101 {
        let msg = next_message(&mut consumer).await;
        assert_eq!((msg.partition(), msg.offset(), msg.value().age), (2, i64::from(i), i));
    }

    // Keyed: the key of every value chooses the one partition.
    let keyed = client
        .producer::<PersonV1>("people")
        .key(|p: &PersonV1| p.name.clone())
        .create()
        .await
        .expect("keyed producer");
    let same_key: Vec<PersonV1> = (0..5).map(|i| PersonV1 { name: "ada".into(), age: i }).collect();
    let receipt = keyed.send_batch(&same_key).await.expect("stored");
    assert_eq!(receipt.partition, partition_for_key(b"ada", 3));
    let mixed = people(0, 12);
    let err = keyed.send_batch(&mixed).await.expect_err("keys of several partitions");
    assert!(matches!(err, ClientError::InvalidArgument(ref m) if m.contains("one partition")), "{err}");
    let err = producer.send_batch(&[]).await.expect_err("empty batch");
    assert!(matches!(err, ClientError::InvalidArgument(_)), "{err}");
    let err = producer.send_batch_to(3, &people(0, 2)).await.expect_err("no partition 3");
    assert!(matches!(err, ClientError::UnknownPartition { partition: 3, .. }), "{err}");
}
