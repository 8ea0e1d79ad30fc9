//! The loop that runs a function in the caller's process: checks at start, the
//! group membership that shares the input, per-partition takeover (fence, read
//! the committed position, restore state), turns of records committed by the
//! chosen guarantee, retries and dead letters, and the reports to the server.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use parking_lot::Mutex;
use runnel_avro::Avro;
use runnel_proto::v1;

use super::context::{Context, Origin, Publish, Staged};
use super::state::{changelog_value, PartitionState, StateSpec};
use super::{Function, FunctionError, Guarantee};
use crate::admin::{NewTopic, Validation};
use crate::client::Client;
use crate::error::ClientError;
use crate::grpc::topics::value_subject;
use crate::producer::Producer;
use crate::raw_consumer::RawConsumer;
use crate::raw_producer::RawProducer;
use crate::registry::{type_name, ValueDecoder};
use crate::transaction::Transaction;
use crate::transport::{
    now_ms, ConsumerOptions, Position, ProducerOptions, RawMessage, RawRecord, Transport,
};

/// How often an instance reports to the server.
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// How long a turn waits for its first record.
const TURN_WAIT: Duration = Duration::from_millis(100);

/// A builder's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub name: String,
    pub input: String,
    pub output: Option<String>,
    pub guarantee: Guarantee,
    pub state: Option<StateSpec>,
    pub max_attempts: u32,
    pub batch: usize,
    pub session_timeout: Duration,
}

impl Settings {
    pub(crate) fn new(name: String) -> Self {
        Settings {
            name,
            input: String::new(),
            output: None,
            guarantee: Guarantee::EffectivelyOnce,
            state: None,
            max_attempts: 3,
            batch: 10_000,
            session_timeout: Duration::from_secs(10),
        }
    }

    fn group(&self) -> String {
        format!("__function.{}", self.name)
    }

    fn state_topic(&self) -> String {
        format!("{}-state", self.name)
    }

    fn dlq_topic(&self) -> String {
        format!("{}-dlq", self.name)
    }

    fn marks_topic(&self) -> String {
        format!("{}-windows", self.name)
    }
}

/// The key of a partition's window mark in `<name>-windows`.
const MARK_KEY: &str = "closed_until";

/// What turns one decoded input into outputs: a per-record function, or windows.
pub(crate) trait Processor<I, O>: Send {
    /// One attempt at one record.
    fn process(&mut self, input: I, ctx: &mut Context<'_>) -> Result<Vec<O>, FunctionError>;
    /// The record is dead-lettered after its last failed attempt.
    fn give_up(&mut self, _partition: u32) {}
    /// The input offset to commit for `partition` once records before `next` are done.
    fn commit_position(&self, _partition: u32, next: i64) -> i64 {
        next
    }
    /// The partition was taken over again (or away): forget what it held.
    fn reset(&mut self, _partition: u32) {}
    /// Whether [`Processor::mark`]s are kept (in `<name>-windows`) across owners.
    fn keeps_marks(&self) -> bool {
        false
    }
    /// What a replay from the committed position cannot rebuild: for time windows,
    /// the end of the latest window handed over.
    fn mark(&self, _partition: u32) -> Option<i64> {
        None
    }
    /// The partition's mark as its previous owner committed it.
    fn restore_mark(&mut self, _partition: u32, _mark: i64) {}
}

/// A [`Function`] as a [`Processor`].
pub(crate) struct PerRecord<F>(pub F);

impl<I, O, F: Function<I, O>> Processor<I, O> for PerRecord<F> {
    fn process(&mut self, input: I, ctx: &mut Context<'_>) -> Result<Vec<O>, FunctionError> {
        Ok(self.0.process(input, ctx)?.into_iter().collect())
    }
}

/// Counters the reports carry.
#[derive(Debug, Default)]
struct Stats {
    processed: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<String>,
    metrics: Mutex<BTreeMap<String, i64>>,
    partitions: Mutex<Vec<u32>>,
}

/// An input partition this instance owns.
struct Owned {
    /// Effectively once: the partition's transactional producer.
    txn: Option<Transaction>,
    state: PartitionState,
    /// The next offset to process (records below it are skipped).
    next: i64,
    /// The processor's mark as last committed.
    mark: Option<i64>,
}

/// What a turn did to one partition.
#[derive(Default)]
struct TurnPart {
    outputs: Vec<Publish>,
    dead: Vec<RawRecord>,
    state: BTreeMap<Bytes, Option<Bytes>>,
    processed: bool,
}

/// Sends records outside transactions (at-least-once and at-most-once), one raw
/// producer per topic.
#[derive(Default)]
struct Senders(HashMap<String, RawProducer>);

impl Senders {
    async fn send(
        &mut self,
        client: &Client,
        topic: &str,
        record: RawRecord,
    ) -> Result<crate::SendFuture, ClientError> {
        if !self.0.contains_key(topic) {
            let p = RawProducer::start(client, topic, ProducerOptions::default()).await?;
            self.0.insert(topic.to_owned(), p);
        }
        Ok(self.0[topic].send(record))
    }
}

/// Runs the function until `stop`, deletion, or a failure to start.
pub(crate) async fn run<I, O, P>(
    client: Client,
    settings: Settings,
    processor: P,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), ClientError>
where
    I: Avro + Send + 'static,
    O: Avro + Send + 'static,
    P: Processor<I, O>,
{
    if settings.input.is_empty() {
        return Err(ClientError::InvalidArgument(format!("function `{}` has no input topic", settings.name)));
    }
    let setup = Setup::<O>::new::<I>(&client, &settings, processor.keeps_marks()).await?;
    let stats = Arc::new(Stats::default());
    let instance_id = format!("{}-{:x}", std::process::id(), now_ms() ^ (&stats as *const _ as i64));
    let started_ms = now_ms();
    let reporter = Reporter {
        client: client.clone(),
        settings: settings.clone(),
        stats: stats.clone(),
        instance_id,
        started_ms,
        keeps_marks: setup.marks.is_some(),
    };
    // The first report registers the function: a name a built-in holds stops it here.
    reporter.report(false).await?;
    let options = ConsumerOptions {
        group: Some(settings.group()),
        from: Position::Earliest,
        auto_commit: None,
        session_timeout: settings.session_timeout,
        ..ConsumerOptions::default()
    };
    let consumer = RawConsumer::subscribe(&client, &settings.input, options).await?;
    let decoder = ValueDecoder::<I, _>::new(
        client.schema_cache().clone(),
        client.transport().schemas(),
        &setup.input_subject,
    )
    .await;
    let mut worker = Worker {
        client: client.clone(),
        settings,
        setup,
        stats,
        processor,
        decoder,
        consumer,
        owned: HashMap::new(),
        senders: Senders::default(),
        versions: HashMap::new(),
    };
    let deleted = Arc::new(tokio::sync::Notify::new());
    let report_loop = {
        let deleted = deleted.clone();
        let reporter = reporter.clone();
        async move {
            loop {
                tokio::time::sleep(REPORT_EVERY).await;
                match reporter.report(false).await {
                    Ok(true) => {
                        deleted.notify_one();
                        return;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(function = %reporter.settings.name, error = %e, "report failed"),
                }
            }
        }
    };
    let result = tokio::select! {
        r = worker.run() => r,
        () = stop => Ok(()),
        () = deleted.notified() => {
            tracing::info!(function = %worker.settings.name, "the function was deleted: stopping");
            Ok(())
        }
        () = report_loop => Ok(()),
    };
    let Worker { consumer, .. } = worker;
    let _ = consumer.close().await;
    let _ = reporter.report(true).await;
    result
}

/// What the checks at start found and made.
struct Setup<O> {
    input_subject: String,
    output: Option<Producer<O>>,
    /// The state's topic and the changelog schema's id there.
    state: Option<(String, u32)>,
    /// The window marks' topic and its changelog schema's id (`["null", "long"]`).
    marks: Option<(String, u32)>,
}

impl<O: Avro + Send + 'static> Setup<O> {
    /// Checks that every live version of the input resolves into `I`, that `O` and
    /// the state may be written, and creates the dead-letter and state topics.
    async fn new<I: Avro>(
        client: &Client,
        settings: &Settings,
        keeps_marks: bool,
    ) -> Result<Self, ClientError> {
        let name = &settings.name;
        let mut reasons = Vec::new();
        let input = client.describe_topic(&settings.input).await?;
        let input_subject = value_subject(&input);
        reasons.extend(unreadable_versions(client, &input_subject, I::schema()).await?);
        let output = match &settings.output {
            Some(topic) => match writable(client, topic, O::schema()).await? {
                Ok(()) => Some(client.producer::<O>(topic.clone()).create().await?),
                Err(why) => {
                    reasons.extend(why);
                    None
                }
            },
            None => None,
        };
        let partitions = input.partitions.len().max(1) as u32;
        let mut state = None;
        if let Some(spec) = &settings.state {
            let topic = settings.state_topic();
            state = changelog_topic(client, "state", &topic, partitions, spec.changelog_schema, &mut reasons)
                .await?;
        }
        let mut marks = None;
        if keeps_marks {
            let topic = settings.marks_topic();
            let schema = <Option<i64> as Avro>::schema();
            marks = changelog_topic(client, "window marks", &topic, partitions, schema, &mut reasons).await?;
        }
        if !reasons.is_empty() {
            return Err(ClientError::Function(format!(
                "function `{name}` cannot start: {}",
                reasons.join("; ")
            )));
        }
        let dlq = NewTopic::new(settings.dlq_topic())
            .partitions(1)
            .validation(Validation::None)
            .value_subject(input_subject.clone())
            .if_not_exists(true);
        client.create_topic(dlq).await?;
        Ok(Setup { input_subject, output, state, marks })
    }
}

/// Creates (if missing) a changelog topic with one partition per input partition
/// and registers its value schema: the topic and the schema's id, or the reasons why not.
async fn changelog_topic(
    client: &Client,
    what: &str,
    topic: &str,
    partitions: u32,
    schema: &runnel_avro::Schema,
    reasons: &mut Vec<String>,
) -> Result<Option<(String, u32)>, ClientError> {
    let created =
        NewTopic::new(topic.to_owned()).partitions(partitions).auto_register(true).if_not_exists(true);
    let info = client.create_topic(created).await?;
    if info.partitions.len() as u32 != partitions {
        reasons.push(format!(
            "the {what} topic `{topic}` has {} partitions, the input {partitions}: one per input partition is needed",
            info.partitions.len()
        ));
    }
    match client.register_schema(&value_subject(&info), schema).await {
        Ok(registered) => Ok(Some((topic.to_owned(), registered.id))),
        Err(ClientError::Incompatible { subject, reasons: why }) => {
            reasons.extend(why.into_iter().map(|r| format!("{what} `{subject}`: {r}")));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Every live version of `subject` that does not resolve into `reader`, with why.
async fn unreadable_versions(
    client: &Client,
    subject: &str,
    reader: &runnel_avro::Schema,
) -> Result<Vec<String>, ClientError> {
    let latest = match client.latest_schema(subject).await {
        Ok(latest) => latest,
        Err(e) => return Ok(vec![format!("the input's subject `{subject}` has no schema ({e})")]),
    };
    let mut reasons = Vec::new();
    for version in 1..=latest.version {
        // Deleted versions are gone from the subject: nothing of them is read.
        let Ok(v) = client.schema_version(subject, version).await else { continue };
        if let Err(e) = runnel_avro::resolve::Plan::new(&v.schema, reader) {
            reasons.push(format!(
                "version {version} (id {}) of `{subject}` cannot be read as `{}`: {e}",
                v.id,
                type_name(reader)
            ));
        }
    }
    Ok(reasons)
}

/// Whether `schema` may be written to `topic`: registered under its subject, or
/// compatible with it under its level (then registered by the producer, if the
/// topic lets producers register). The inner error lists every reason.
async fn writable(
    client: &Client,
    topic: &str,
    schema: &runnel_avro::Schema,
) -> Result<Result<(), Vec<String>>, ClientError> {
    let info = client.describe_topic(topic).await?;
    let subject = value_subject(&info);
    if client.lookup_schema(&subject, schema).await?.is_some() {
        return Ok(Ok(()));
    }
    let why = client.check_compatibility(&subject, schema).await?;
    if why.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(why.into_iter().map(|r| format!("output `{topic}` (`{subject}`): {r}")).collect()))
    }
}

/// Reports the instance to the server.
#[derive(Clone)]
struct Reporter {
    client: Client,
    settings: Settings,
    stats: Arc<Stats>,
    instance_id: String,
    started_ms: i64,
    keeps_marks: bool,
}

impl Reporter {
    /// Sends a report; true when the function was deleted.
    async fn report(&self, leaving: bool) -> Result<bool, ClientError> {
        let s = &self.settings;
        let mut outputs: Vec<String> = s.output.iter().cloned().collect();
        if s.state.is_some() {
            outputs.push(s.state_topic());
        }
        if self.keeps_marks {
            outputs.push(s.marks_topic());
        }
        outputs.push(s.dlq_topic());
        let req = v1::InstanceReport {
            name: s.name.clone(),
            instance_id: self.instance_id.clone(),
            input: s.input.clone(),
            outputs,
            guarantee: s.guarantee.as_str().to_owned(),
            processed: self.stats.processed.load(Relaxed),
            failed: self.stats.failed.load(Relaxed),
            last_error: self.stats.last_error.lock().clone(),
            partitions: self.stats.partitions.lock().clone(),
            session_timeout_ms: (REPORT_EVERY * 3).max(s.session_timeout).as_millis() as u32,
            started_ms: self.started_ms,
            metrics: self.stats.metrics.lock().iter().map(|(k, v)| (k.clone(), *v)).collect(),
            leaving,
        };
        let resp = self.client.report_function_instance(req).await?;
        Ok(resp.deleted)
    }
}

/// The running function.
struct Worker<I, O, P, L> {
    client: Client,
    settings: Settings,
    setup: Setup<O>,
    stats: Arc<Stats>,
    processor: P,
    decoder: ValueDecoder<I, L>,
    consumer: RawConsumer,
    owned: HashMap<u32, Owned>,
    senders: Senders,
    /// Writer schema id → its version in the input's subject.
    versions: HashMap<u32, i32>,
}

impl<I, O, P, L> Worker<I, O, P, L>
where
    I: Avro + Send + 'static,
    O: Avro + Send + 'static,
    P: Processor<I, O>,
    L: crate::transport::SchemaLookup,
{
    async fn run(&mut self) -> Result<(), ClientError> {
        loop {
            self.follow_assignment().await;
            let batch = self.next_batch().await?;
            if batch.is_empty() {
                continue;
            }
            let turn = self.process(batch).await;
            self.commit(turn).await;
        }
    }

    /// Takes over newly assigned partitions and drops revoked ones.
    async fn follow_assignment(&mut self) {
        let assigned = self.consumer.assignment();
        self.owned.retain(|p, _| assigned.contains(p));
        for p in assigned.iter().copied().filter(|p| !self.owned.contains_key(p)).collect::<Vec<_>>() {
            self.processor.reset(p);
            match self.take_over(p).await {
                Ok(owned) => {
                    self.owned.insert(p, owned);
                }
                Err(e) => {
                    tracing::warn!(function = %self.settings.name, partition = p, error = %e, "taking the partition over failed; trying again");
                    *self.stats.last_error.lock() = e.to_string();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        *self.stats.partitions.lock() = self.owned.keys().copied().collect();
    }

    /// Fences the partition's earlier owner (effectively once), reads where the group
    /// stands and restores the partition's state.
    async fn take_over(&mut self, partition: u32) -> Result<Owned, ClientError> {
        let s = &self.settings;
        let txn = match s.guarantee {
            Guarantee::EffectivelyOnce => {
                Some(self.client.transaction(format!("__function.{}.{partition}", s.name)).await?)
            }
            _ => None,
        };
        let committed = self.client.committed_offsets(&s.group(), &s.input).await?;
        let next = match committed.iter().find(|(p, _)| *p == partition) {
            Some(&(_, offset)) => offset,
            None => self
                .client
                .list_offsets(&s.input, &[partition], Position::Earliest)
                .await?
                .first()
                .map_or(0, |(_, o)| *o),
        };
        self.consumer.seek(partition, next)?;
        let state = match (&s.state, &self.setup.state) {
            (Some(spec), Some((topic, _))) => spec.restore(&self.client, &s.name, topic, partition).await?,
            _ => PartitionState::new(),
        };
        let mut mark = None;
        if let Some((topic, _)) = &self.setup.marks {
            let marks =
                StateSpec::of::<String, i64>().restore(&self.client, &s.name, topic, partition).await?;
            if let Some(bytes) = marks.get(runnel_avro::to_vec(&MARK_KEY.to_owned()).as_slice()) {
                let m = runnel_avro::from_slice::<i64>(bytes).map_err(|e| {
                    ClientError::Function(format!(
                        "function `{}`: a window mark in `{topic}` is corrupt: {e}",
                        s.name
                    ))
                })?;
                self.processor.restore_mark(partition, m);
                mark = Some(m);
            }
        }
        tracing::debug!(function = %s.name, partition, next, keys = state.len(), ?mark, "partition taken over");
        Ok(Owned { txn, state, next, mark })
    }

    /// Up to `batch` records: waits a little for the first, then takes what is buffered.
    async fn next_batch(&mut self) -> Result<Vec<RawMessage>, ClientError> {
        let mut batch = Vec::new();
        match tokio::time::timeout(TURN_WAIT, self.consumer.next()).await {
            Err(_) => return Ok(batch),
            Ok(None) => return Err(ClientError::Closed),
            Ok(Some(msg)) => batch.push(msg?),
        }
        while batch.len() < self.settings.batch {
            // Unconstrained: under tokio's cooperative budget a buffered record would
            // answer Pending after ~128 polls, cutting turns (and transactions) short.
            match tokio::task::unconstrained(self.consumer.next()).now_or_never() {
                Some(Some(msg)) => batch.push(msg?),
                _ => break,
            }
        }
        Ok(batch)
    }

    /// Processes a batch: per record, attempts until one succeeds or the last fails.
    async fn process(&mut self, batch: Vec<RawMessage>) -> BTreeMap<u32, TurnPart> {
        let mut turn: BTreeMap<u32, TurnPart> = BTreeMap::new();
        for msg in batch {
            let Some(owned) = self.owned.get_mut(&msg.partition) else { continue };
            if msg.offset < owned.next {
                continue; // read before the takeover's seek
            }
            owned.next = msg.offset + 1;
            let part = turn.entry(msg.partition).or_default();
            part.processed = true;
            // The writer's version, for the context (once per writer id).
            let schema_id = crate::framing::split(&msg.value).map_or(0, |(id, _)| id);
            if let std::collections::hash_map::Entry::Vacant(e) = self.versions.entry(schema_id) {
                let version = match self.client.schema_by_id(schema_id).await {
                    Ok(schema) => self
                        .client
                        .lookup_schema(&self.setup.input_subject, &schema)
                        .await
                        .ok()
                        .flatten()
                        .map_or(0, |r| r.version),
                    Err(_) => 0,
                };
                e.insert(version);
            }
            let origin = Origin {
                topic: self.settings.input.clone(),
                partition: msg.partition,
                offset: msg.offset,
                timestamp_ms: msg.timestamp_ms,
                key: msg.key.clone(),
                schema_id,
                schema_version: self.versions[&schema_id],
            };
            let mut last_error = String::new();
            let mut attempts = 0;
            let mut done = false;
            while attempts < self.settings.max_attempts {
                attempts += 1;
                let input = match self.decoder.decode(msg.partition, msg.offset, &msg.value).await {
                    Ok((input, _)) => input,
                    Err(e) => {
                        // Decoding fails the same way every time: no second attempt.
                        last_error = e.to_string();
                        break;
                    }
                };
                let mut staged = Staged::default();
                let owned = &self.owned[&msg.partition];
                let mut ctx = Context {
                    function: &self.settings.name,
                    origin: &origin,
                    state_spec: self.settings.state.as_ref(),
                    state: Some(&owned.state),
                    staged: &mut staged,
                };
                let processor = &mut self.processor;
                let result =
                    std::panic::catch_unwind(AssertUnwindSafe(|| processor.process(input, &mut ctx)));
                match result {
                    Ok(Ok(outputs)) => {
                        let part = turn.entry(msg.partition).or_default();
                        if let Some(producer) = &self.setup.output {
                            for o in &outputs {
                                let (key, value) = producer.encode_record(o, msg.key.clone());
                                part.outputs.push(Publish { topic: producer.topic().to_owned(), key, value });
                            }
                        }
                        part.outputs.extend(staged.publishes);
                        let owned = self.owned.get_mut(&msg.partition).expect("owned above");
                        for (k, v) in staged.state {
                            match &v {
                                Some(bytes) => owned.state.insert(k.clone(), bytes.clone()),
                                None => owned.state.remove(&k),
                            };
                            part.state.insert(k, v);
                        }
                        let mut metrics = self.stats.metrics.lock();
                        for (k, v) in staged.metrics {
                            *metrics.entry(k).or_insert(0) += v;
                        }
                        done = true;
                        break;
                    }
                    Ok(Err(e)) => last_error = e.to_string(),
                    Err(panic) => {
                        last_error = match panic.downcast_ref::<&str>() {
                            Some(s) => format!("panicked: {s}"),
                            None => match panic.downcast_ref::<String>() {
                                Some(s) => format!("panicked: {s}"),
                                None => "panicked".to_owned(),
                            },
                        }
                    }
                }
            }
            self.stats.processed.fetch_add(1, Relaxed);
            if !done {
                self.processor.give_up(msg.partition);
                self.stats.failed.fetch_add(1, Relaxed);
                tracing::warn!(function = %self.settings.name, partition = msg.partition, offset = msg.offset, attempts, error = %last_error, "record dead-lettered");
                *self.stats.last_error.lock() = last_error.clone();
                let mut headers = msg.headers.clone();
                headers.push(("runnel-function-error".into(), Bytes::from(last_error)));
                headers.push(("runnel-function-name".into(), Bytes::from(self.settings.name.clone())));
                headers.push((
                    "runnel-function-source".into(),
                    Bytes::from(format!("{}/{}/{}", self.settings.input, msg.partition, msg.offset)),
                ));
                headers.push(("runnel-function-attempts".into(), Bytes::from(attempts.to_string())));
                turn.entry(msg.partition).or_default().dead.push(RawRecord {
                    key: msg.key.clone(),
                    value: msg.value.clone(),
                    headers,
                    timestamp_ms: Some(msg.timestamp_ms),
                    partition: Some(0),
                });
            }
        }
        turn
    }

    /// Commits a turn by the guarantee. A partition whose commit fails is taken over
    /// again (its state restored, its position read) at the next turn.
    async fn commit(&mut self, turn: BTreeMap<u32, TurnPart>) {
        let failed = match self.settings.guarantee {
            Guarantee::EffectivelyOnce => self.commit_transactions(turn).await,
            Guarantee::AtLeastOnce | Guarantee::AtMostOnce => self.commit_sent(turn).await,
        };
        for (p, e) in failed {
            tracing::warn!(function = %self.settings.name, partition = p, error = %e, "turn not committed; the partition is taken over again");
            *self.stats.last_error.lock() = e.to_string();
            self.owned.remove(&p);
        }
    }

    async fn commit_transactions(&mut self, turn: BTreeMap<u32, TurnPart>) -> Vec<(u32, ClientError)> {
        let group = self.settings.group();
        let input = self.settings.input.clone();
        let dlq = self.settings.dlq_topic();
        let state = self.setup.state.clone();
        let now = now_ms();
        let mut commits = Vec::new();
        for (p, part) in turn {
            let Some(owned) = self.owned.get(&p) else { continue };
            let mark = self.mark_record(p, owned);
            let Some(owned) = self.owned.get_mut(&p) else { continue };
            let position = self.processor.commit_position(p, owned.next);
            let Some(mut txn) = owned.txn.take() else { continue };
            let (group, input, dlq, state) = (group.clone(), input.clone(), dlq.clone(), state.clone());
            commits.push(async move {
                let result: Result<(), ClientError> = async {
                    for o in part.outputs {
                        txn.push(&o.topic, None, o.key, Some(o.value), Vec::new(), now).await?;
                    }
                    if let Some((topic, schema_id)) = &state {
                        for (k, v) in &part.state {
                            let value = changelog_value(*schema_id, v.as_ref());
                            txn.push(topic, Some(p), Some(k.clone()), Some(value), Vec::new(), now).await?;
                        }
                    }
                    for d in part.dead {
                        let value = (!d.value.is_empty()).then_some(d.value);
                        txn.push(&dlq, Some(0), d.key, value, d.headers, d.timestamp_ms.unwrap_or(now))
                            .await?;
                    }
                    if let Some((topic, record, _)) = &mark {
                        txn.push(
                            topic,
                            Some(p),
                            record.key.clone(),
                            Some(record.value.clone()),
                            Vec::new(),
                            now,
                        )
                        .await?;
                    }
                    txn.commit_offsets(&group, &input, &[(p, position)]).await?;
                    txn.commit_and_continue().await
                }
                .await;
                (p, txn, result, mark.map(|(_, _, m)| m))
            });
        }
        let mut failed = Vec::new();
        for (p, txn, result, mark) in futures::future::join_all(commits).await {
            match result {
                Ok(()) => {
                    if let Some(owned) = self.owned.get_mut(&p) {
                        owned.txn = Some(txn);
                        if mark.is_some() {
                            owned.mark = mark;
                        }
                    }
                }
                Err(e) => failed.push((p, e)),
            }
        }
        failed
    }

    /// The record that moves partition `p`'s mark forward in `<name>-windows`, if it moved:
    /// the topic, the record and the mark.
    fn mark_record(&self, p: u32, owned: &Owned) -> Option<(String, RawRecord, i64)> {
        let (topic, schema_id) = self.setup.marks.as_ref()?;
        let mark = self.processor.mark(p).filter(|m| Some(*m) != owned.mark)?;
        let record = RawRecord {
            key: Some(Bytes::from(runnel_avro::to_vec(&MARK_KEY.to_owned()))),
            value: changelog_value(*schema_id, Some(&Bytes::from(runnel_avro::to_vec(&mark)))),
            headers: Vec::new(),
            timestamp_ms: None,
            partition: Some(p),
        };
        Some((topic.clone(), record, mark))
    }

    async fn commit_sent(&mut self, turn: BTreeMap<u32, TurnPart>) -> Vec<(u32, ClientError)> {
        let at_most_once = self.settings.guarantee == Guarantee::AtMostOnce;
        let mut failed = Vec::new();
        let positions: Vec<(u32, i64)> = turn
            .keys()
            .filter_map(|p| self.owned.get(p).map(|o| (*p, self.processor.commit_position(*p, o.next))))
            .collect();
        if at_most_once {
            for &(p, position) in &positions {
                if let Err(e) = self.consumer.commit_offset(p, position).await {
                    failed.push((p, e));
                }
            }
        }
        let dlq = self.settings.dlq_topic();
        let state = self.setup.state.clone();
        for (p, part) in turn {
            let mut sends = Vec::new();
            let result: Result<Option<i64>, ClientError> = async {
                for o in part.outputs {
                    let record = RawRecord {
                        key: o.key,
                        value: o.value,
                        headers: Vec::new(),
                        timestamp_ms: None,
                        partition: None,
                    };
                    sends.push(self.senders.send(&self.client, &o.topic, record).await?);
                }
                if let Some((topic, schema_id)) = &state {
                    for (k, v) in &part.state {
                        let value = changelog_value(*schema_id, v.as_ref());
                        let record = RawRecord {
                            key: Some(k.clone()),
                            value,
                            headers: Vec::new(),
                            timestamp_ms: None,
                            partition: Some(p),
                        };
                        sends.push(self.senders.send(&self.client, topic, record).await?);
                    }
                }
                for d in part.dead {
                    sends.push(self.senders.send(&self.client, &dlq, d).await?);
                }
                let mark = self.owned.get(&p).and_then(|owned| self.mark_record(p, owned));
                if let Some((topic, record, _)) = &mark {
                    sends.push(self.senders.send(&self.client, topic, record.clone()).await?);
                }
                for r in futures::future::join_all(sends).await {
                    r?;
                }
                Ok(mark.map(|(_, _, m)| m))
            }
            .await;
            match result {
                Ok(Some(mark)) => {
                    if let Some(owned) = self.owned.get_mut(&p) {
                        owned.mark = Some(mark);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    if !at_most_once {
                        failed.push((p, e));
                    }
                }
            }
        }
        if !at_most_once {
            for &(p, position) in &positions {
                if failed.iter().any(|(q, _)| *q == p) {
                    continue;
                }
                if let Err(e) = self.consumer.commit_offset(p, position).await {
                    failed.push((p, e));
                }
            }
        }
        failed
    }
}
