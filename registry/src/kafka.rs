//! The registry's state on a Kafka cluster (cargo feature `kafka`): a single-partition topic
//! (`_schemas` by default) holding one record per write request, which every instance reads from
//! the start and applies (see [`crate::log`] for the records and the rule that applies them),
//! and the election of the one instance that takes writes.
//!
//! Per instance, on librdkafka (the `rdkafka` crate):
//! - a producer appends the instance's writes and its announcements. It is not idempotent:
//!   Tansu reports wrong high watermarks after idempotent writes, and a duplicate from a retry is
//!   harmless (its `prev` is stale, so nobody applies it, and the writer finds its write by
//!   `(writer, seq)`);
//! - a reader thread (a consumer with the partition assigned, no group) applies records in
//!   order and publishes how far it got; a writer waits until its record is read back;
//! - an election thread: a consumer in the group `runnel-registry.<topic>` subscribed to the
//!   topic. Whoever is given its one partition is primary (cooperative-sticky assignment, so an
//!   instance joining does not move it), announces its REST address in the log, and pauses the
//!   partition (it reads through the reader, not here). When the primary dies, the group
//!   coordinator gives the partition to another member after the session timeout.
//!
//! The election only decides where writes go; correctness does not rest on it: two instances
//! that both believe they are primary can only make each other's writes stale, never apply a
//! write planned on an outdated state (see [`crate::log::admit`]).
//!
//! At start the instance checks the cluster (reachable, speaks Kafka), creates the topic if it is
//! missing (one partition, no retention, no compaction), refuses a topic with several partitions
//! or whose start was deleted, and reads it to its end before it serves: a record it cannot read
//! stops it, naming the topic, partition and offset.

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::RegistryError;
use crate::log::{Appended, LogRecord, Role, SharedLog, RECORD_KEY};
use crate::registry::{Registry, Replica};
use crate::store::Change;
use crate::types::RegistryConfig;

/// How long a write waits for its record to be acknowledged and read back.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a start waits for the cluster's first answers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how a registry keeps its state on Kafka.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// The cluster's bootstrap servers (`host:port[,host:port...]`).
    pub bootstrap: String,
    /// The topic holding the registry's records (`_schemas`).
    pub topic: String,
    /// This instance's REST base URL as the other instances reach it (announced when primary).
    pub advertise_url: String,
    /// The election's session timeout: how soon a dead primary is replaced. Apache Kafka accepts
    /// 6 s and more by default (`group.min.session.timeout.ms`).
    pub session_timeout: Duration,
    /// Further librdkafka settings for every client (`security.protocol`, `sasl.*`, ...).
    pub properties: Vec<(String, String)>,
}

impl KafkaOptions {
    /// Options with the defaults: topic `_schemas`, a 6 s session timeout.
    pub fn new(bootstrap: impl Into<String>, advertise_url: impl Into<String>) -> KafkaOptions {
        KafkaOptions {
            bootstrap: bootstrap.into(),
            topic: "_schemas".into(),
            advertise_url: advertise_url.into(),
            session_timeout: Duration::from_secs(6),
            properties: Vec::new(),
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c.set("client.id", "runnel-registry");
        // Never let a metadata request create a topic with the broker's defaults.
        c.set("allow.auto.create.topics", "false");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

impl Registry {
    /// Opens the registry kept in `options.topic` on a Kafka cluster: checks the cluster, creates
    /// the topic if missing, reads it to its end, and joins the election. Fails, saying why and
    /// where, on an unreachable cluster, a peer that does not speak Kafka, a topic with several
    /// partitions or a truncated start, and a record Runnel cannot read.
    pub async fn open_kafka(
        options: KafkaOptions,
        config: RegistryConfig,
    ) -> Result<Registry, RegistryError> {
        let opts = options.clone();
        let (high, log) = blocking(move || prepare(&opts)).await??;
        let log = Arc::new(log);
        let registry = Registry::on_log(log.clone(), config)?;
        log.start_reader(registry.replica())?;
        let mut position = log.position();
        let deadline = Instant::now() + Duration::from_secs(120);
        while *position.borrow_and_update() < high {
            if let Some(why) = log.failure() {
                log.close();
                return Err(RegistryError::Storage(why));
            }
            if Instant::now() > deadline {
                log.close();
                return Err(RegistryError::Timeout(format!(
                    "`{}` was not read to its end (offset {high}) within 120 s",
                    options.topic
                )));
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), position.changed()).await;
        }
        log.start_election(&options)?;
        tracing::info!(topic = %options.topic, records = high, "registry state read from Kafka");
        Ok(registry)
    }
}

/// Runs librdkafka's blocking calls off the async threads.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, RegistryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RegistryError::Storage(format!("the Kafka setup task failed: {e}")))
}

fn kafka_error(what: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Storage(format!("{what}: {e}"))
}

/// Checks the cluster and the topic (creating it if missing); the topic's end offset and the
/// log, not yet reading.
fn prepare(options: &KafkaOptions) -> Result<(i64, KafkaLog), RegistryError> {
    check_reachable(&options.bootstrap)?;
    let admin: AdminClient<DefaultClientContext> =
        options.client_config().create().map_err(|e| kafka_error("cannot set up a Kafka client", e))?;
    // All topics: asking for the topic by name would make some brokers (Tansu) create it with
    // their default partition count.
    let metadata = admin.inner().fetch_metadata(None, CONNECT_TIMEOUT).map_err(|e| {
        RegistryError::Storage(format!("{} does not answer as a Kafka broker ({e})", options.bootstrap))
    })?;
    let topic = &options.topic;
    let partitions = match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) => t.partitions().len(),
        None => {
            create_topic(&admin, topic, metadata.brokers().len())?;
            1
        }
    };
    if partitions != 1 {
        return Err(RegistryError::Storage(format!(
            "topic `{topic}` has {partitions} partitions; the registry needs exactly one (its records are one ordered log)"
        )));
    }
    let instance = instance_id();
    let reader: BaseConsumer = options
        .client_config()
        // librdkafka wants a group even for an assigned partition; this one never joins or commits.
        .set("group.id", format!("runnel-registry-reader.{instance}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Read-your-writes waits for the reader: fetch often rather than wait for bytes.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.error.backoff.ms", "50")
        .create()
        .map_err(|e| kafka_error("cannot set up a Kafka consumer", e))?;
    let (low, high) = reader
        .fetch_watermarks(topic, 0, CONNECT_TIMEOUT)
        .map_err(|e| kafka_error(&format!("cannot read the offsets of `{topic}`"), e))?;
    if low > 0 {
        return Err(RegistryError::Storage(format!(
            "topic `{topic}` starts at offset {low}: earlier records were deleted (retention or compaction), so the registry's state cannot be rebuilt from it"
        )));
    }
    let producer: FutureProducer = options
        .client_config()
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("linger.ms", "0")
        .set("compression.type", "none")
        .set("message.timeout.ms", WRITE_TIMEOUT.as_millis().to_string())
        .create()
        .map_err(|e| kafka_error("cannot set up a Kafka producer", e))?;
    let (position, _) = tokio::sync::watch::channel(0);
    let log = KafkaLog {
        topic: topic.clone(),
        instance,
        producer: Arc::new(producer),
        reader: Mutex::new(Some(reader)),
        shared: Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            advanced: Condvar::new(),
            position,
            primary: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }),
        seq: AtomicU64::new(0),
        threads: Mutex::new(Vec::new()),
    };
    Ok((high, log))
}

/// Fails fast, naming the address, when no bootstrap server accepts a TCP connection
/// (librdkafka alone would retry quietly until a timeout).
fn check_reachable(bootstrap: &str) -> Result<(), RegistryError> {
    let mut last = String::from("no address given");
    for server in bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let addrs = match server.to_socket_addrs() {
            Ok(addrs) => addrs,
            Err(e) => {
                last = format!("{server}: {e}");
                continue;
            }
        };
        for addr in addrs {
            match std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
    }
    Err(RegistryError::Storage(format!("cannot connect to the Kafka cluster at {bootstrap} ({last})")))
}

/// Creates the registry's topic: one partition, records kept for ever, never compacted (every
/// record is needed to rebuild the state). Another instance creating it first is fine.
fn create_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    brokers: usize,
) -> Result<(), RegistryError> {
    let replication = brokers.clamp(1, 3) as i32;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "delete")
        .set("retention.ms", "-1")
        .set("retention.bytes", "-1");
    let options = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics([&new], &options))
        .map_err(|e| kafka_error(&format!("cannot create topic `{topic}`"), e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(kafka_error(&format!("cannot create topic `{topic}`"), code)),
        }
    }
    tracing::info!(topic, replication, "created the registry's topic");
    Ok(())
}

/// A random id for this process's records and announcements.
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// The registry's log on a Kafka topic.
struct KafkaLog {
    topic: String,
    /// This process's id in the records it writes.
    instance: String,
    producer: Arc<FutureProducer>,
    /// The reader's consumer until the reader thread takes it.
    reader: Mutex<Option<BaseConsumer>>,
    shared: Arc<Shared>,
    /// The next write's sequence number.
    seq: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// What the reader, the election and the writers share.
struct Shared {
    progress: Mutex<Progress>,
    /// Signalled whenever `progress` changes (writers wait on it).
    advanced: Condvar,
    /// `progress.position`, for async waiters (read-your-writes on a follower).
    position: tokio::sync::watch::Sender<i64>,
    /// Whether this instance holds the election's partition.
    primary: AtomicBool,
    /// Set when the registry closes: the threads stop.
    stop: AtomicBool,
}

#[derive(Default)]
struct Progress {
    /// Every record below this offset has been applied (or skipped).
    position: i64,
    /// This instance's writes that were applied: sequence number → offset.
    applied_mine: HashMap<u64, i64>,
    /// The last announcement: (instance, REST URL).
    announced: Option<(String, String)>,
    /// Why the reader stopped, if it did.
    failure: Option<String>,
}

impl Shared {
    fn fail(&self, why: String) {
        tracing::error!("{why}");
        self.progress.lock().failure = Some(why);
        self.advanced.notify_all();
        // Wake async waiters too; they check the failure.
        self.position.send_modify(|_| {});
    }
}

impl KafkaLog {
    fn start_reader(&self, replica: Replica) -> Result<(), RegistryError> {
        let consumer =
            self.reader.lock().take().ok_or_else(|| RegistryError::Storage("reader started twice".into()))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.topic, 0, Offset::Beginning)
            .map_err(|e| kafka_error("cannot assign the registry's partition", e))?;
        consumer.assign(&assignment).map_err(|e| kafka_error("cannot assign the registry's partition", e))?;
        let (shared, topic, me) = (self.shared.clone(), self.topic.clone(), self.instance.clone());
        let handle = std::thread::Builder::new()
            .name("registry-log".into())
            .spawn(move || read_log(&consumer, &shared, &topic, &me, &replica))
            .map_err(|e| RegistryError::Storage(format!("cannot start the log reader: {e}")))?;
        self.threads.lock().push(handle);
        Ok(())
    }

    fn start_election(&self, options: &KafkaOptions) -> Result<(), RegistryError> {
        let session = options.session_timeout.as_millis().max(1000);
        let context =
            Election { shared: self.shared.clone(), topic: self.topic.clone(), won: AtomicBool::new(false) };
        let consumer: BaseConsumer<Election> = options
            .client_config()
            .set("group.id", format!("runnel-registry.{}", self.topic))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "latest")
            .set("session.timeout.ms", session.to_string())
            .set("heartbeat.interval.ms", (session / 5).max(100).to_string())
            // The rebalance timeout: some brokers (Tansu) hold a first join this long.
            .set("max.poll.interval.ms", (session * 2).to_string())
            .set("partition.assignment.strategy", "cooperative-sticky")
            .create_with_context(context)
            .map_err(|e| kafka_error("cannot set up the election's consumer", e))?;
        consumer.subscribe(&[self.topic.as_str()]).map_err(|e| kafka_error("cannot join the election", e))?;
        let (shared, producer, topic) = (self.shared.clone(), self.producer.clone(), self.topic.clone());
        let announcement =
            LogRecord::Primary { instance: self.instance.clone(), url: options.advertise_url.clone() };
        let handle = std::thread::Builder::new()
            .name("registry-election".into())
            .spawn(move || elect(&consumer, &shared, &producer, &topic, &announcement))
            .map_err(|e| RegistryError::Storage(format!("cannot start the election: {e}")))?;
        self.threads.lock().push(handle);
        Ok(())
    }

    fn close(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let handles: Vec<_> = self.threads.lock().drain(..).collect();
        for h in handles {
            // The reader may hold the last handle on the registry and so run this drop itself.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
        self.shared.primary.store(false, Ordering::Release);
    }
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The reader thread: applies every record in order until stopped or a record cannot be applied.
fn read_log(consumer: &BaseConsumer, shared: &Shared, topic: &str, me: &str, replica: &Replica) {
    let mut last_error = Instant::now() - Duration::from_secs(60);
    while !shared.stop.load(Ordering::Acquire) {
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // Transient (a broker restarting): librdkafka retries; say so now and then.
                if last_error.elapsed() > Duration::from_secs(10) {
                    tracing::warn!(topic, error = %e, "reading the registry's topic");
                    last_error = Instant::now();
                }
                continue;
            }
        };
        let offset = message.offset();
        let Some(registry) = replica.registry() else { return };
        let place = format!("the record at offset {offset} of topic `{topic}` (partition 0)");
        let mut applied_mine = None;
        let mut announced = None;
        match LogRecord::decode(message.payload()) {
            Err(why) => {
                return shared.fail(format!("{place} is not a registry record Runnel can read: {why}"));
            }
            Ok(LogRecord::Write { writer, seq, prev, changes }) => {
                match registry.apply_logged(offset, prev, changes) {
                    Ok(true) if writer == me => applied_mine = Some(seq),
                    Ok(_) => {}
                    Err(e) => return shared.fail(format!("{place} cannot be applied: {e}")),
                }
            }
            Ok(LogRecord::Primary { instance, url }) => {
                tracing::info!(%url, offset, "primary announced");
                announced = Some((instance, url));
            }
        }
        {
            let mut progress = shared.progress.lock();
            progress.position = offset + 1;
            if let Some(seq) = applied_mine {
                progress.applied_mine.insert(seq, offset);
            }
            if announced.is_some() {
                progress.announced = announced;
            }
            // Before a writer wakes: its answer reports this position (read-your-writes).
            shared.position.send_replace(offset + 1);
        }
        shared.advanced.notify_all();
    }
}

/// The election's consumer context: partition 0 assigned makes this instance primary.
struct Election {
    shared: Arc<Shared>,
    topic: String,
    /// Set on winning, cleared by the election thread once it has announced.
    won: AtomicBool,
}

impl ClientContext for Election {}

impl ConsumerContext for Election {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let holds =
            |tpl: &TopicPartitionList| tpl.elements_for_topic(&self.topic).iter().any(|e| e.partition() == 0);
        match rebalance {
            Rebalance::Assign(tpl) if holds(tpl) => {
                // The partition is read by the reader; this consumer only holds it.
                let _ = consumer.pause(tpl);
                self.shared.primary.store(true, Ordering::Release);
                self.won.store(true, Ordering::Release);
                tracing::info!(topic = %self.topic, "this registry instance is now the primary");
            }
            Rebalance::Revoke(tpl) if holds(tpl) => {
                self.shared.primary.store(false, Ordering::Release);
                tracing::info!(topic = %self.topic, "this registry instance is no longer the primary");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "registry election"),
            _ => {}
        }
    }
}

/// The election thread: keeps the group membership alive and announces each win.
fn elect(
    consumer: &BaseConsumer<Election>,
    shared: &Shared,
    producer: &FutureProducer,
    topic: &str,
    announcement: &LogRecord,
) {
    let payload = announcement.encode();
    while !shared.stop.load(Ordering::Acquire) {
        // Rebalances are served from poll; the paused partition yields no messages.
        let _ = consumer.poll(Duration::from_millis(100));
        if consumer.context().won.load(Ordering::Acquire) && shared.primary.load(Ordering::Acquire) {
            let record = FutureRecord::to(topic).partition(0).key(RECORD_KEY).payload(&payload);
            match producer.send_result(record) {
                Ok(delivery) => match futures::executor::block_on(delivery) {
                    Ok(Ok(_)) => consumer.context().won.store(false, Ordering::Release),
                    Ok(Err((e, _))) => tracing::warn!(error = %e, "cannot announce the primary; retrying"),
                    Err(_) => tracing::warn!("cannot announce the primary; retrying"),
                },
                Err((e, _)) => tracing::warn!(error = %e, "cannot announce the primary; retrying"),
            }
        }
    }
    // Dropping the consumer leaves the group, so another instance takes over at once.
    shared.primary.store(false, Ordering::Release);
}

impl SharedLog for KafkaLog {
    fn append(&self, prev: i64, changes: &[Change]) -> Result<Appended, RegistryError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let payload =
            LogRecord::Write { writer: self.instance.clone(), seq, prev, changes: changes.to_vec() }.encode();
        let record = FutureRecord::to(&self.topic).partition(0).key(RECORD_KEY).payload(&payload);
        let cannot = |e: &dyn std::fmt::Display| {
            RegistryError::Storage(format!("cannot append to `{}`: {e}", self.topic))
        };
        let delivery = self.producer.send_result(record).map_err(|(e, _)| cannot(&e))?;
        let offset = match futures::executor::block_on(delivery) {
            Ok(Ok(delivery)) => delivery.offset,
            Ok(Err((e, _))) => return Err(cannot(&e)),
            Err(_) => return Err(cannot(&"the producer closed")),
        };
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut progress = self.shared.progress.lock();
        while progress.position <= offset {
            if let Some(why) = &progress.failure {
                return Err(RegistryError::Storage(why.clone()));
            }
            if self.shared.advanced.wait_until(&mut progress, deadline).timed_out() {
                return Err(RegistryError::Timeout(format!(
                    "the write appended at offset {offset} of `{}` was not read back within {} s",
                    self.topic,
                    WRITE_TIMEOUT.as_secs()
                )));
            }
        }
        // Found by sequence number: a duplicate from a retry may be the copy that was acknowledged.
        Ok(match progress.applied_mine.remove(&seq) {
            Some(_) => Appended::Applied,
            None => Appended::Stale,
        })
    }

    fn role(&self) -> Role {
        if self.shared.primary.load(Ordering::Acquire) {
            return Role::Primary;
        }
        let progress = self.shared.progress.lock();
        let primary = match &progress.announced {
            Some((instance, url)) if *instance != self.instance => Some(url.clone()),
            _ => None,
        };
        Role::Follower { primary }
    }

    fn position(&self) -> tokio::sync::watch::Receiver<i64> {
        self.shared.position.subscribe()
    }

    fn failure(&self) -> Option<String> {
        self.shared.progress.lock().failure.clone()
    }

    fn close(&self) {
        KafkaLog::close(self);
    }
}
