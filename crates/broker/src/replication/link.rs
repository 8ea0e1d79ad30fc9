//! One task per (topic, remote cluster): sets the topic up at the remote (created with
//! the same partitions, subject and validation if missing), then tails every partition
//! of the local log and appends this cluster's own records to the remote in batches.
//!
//! Exactly once at the remote, across restarts of either side: each cluster is one
//! idempotent producer at each remote (its id stored in `store`), with one sequence per
//! partition. Up to [`MAX_IN_FLIGHT`] batches per partition are on the way at once, in
//! order on one `ProduceStream`. Before batches are sent, the local ranges they cover,
//! their record counts and the first one's sequence are stored (`store::Position`), in
//! one commit that also moves the position past the batches acknowledged since. A crash
//! re-sends exactly the same batches (same ranges, records, sequences and counts) and
//! the remote's producer state, which remembers each producer's last five batches per
//! partition and is rebuilt from its log on start, answers those it has as duplicates.
//!
//! No loops: every record sent carries the header `runnel-origin` with this cluster's
//! name, and a record that carries one is never sent on, so each record travels only
//! from the cluster where it was produced (a full mesh ends with the union everywhere).
//!
//! Schemas travel with the data: before a record with a schema id the remote has not
//! seen is sent, the versions of the local subject up to that id are registered, in
//! order, under the remote topic's subject, and the record's id is rewritten to the
//! remote's. A refused version pauses the link with the registry's reasons; nothing is
//! skipped, and the link tries again after a pause.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use parking_lot::Mutex;
use runnel_proto::v1;
use runnel_proto::BatchBuilder;
use runnel_registry::{Registry, VersionSelector};
use tokio_util::sync::CancellationToken;

use super::remote::{describe, is_refusal, Remote};
use super::store::{self, Position};
use crate::error::BrokerError;
use crate::log::{txn, PartitionLog};
use crate::meta::Meta;
use crate::topics::{Topics, Validation};

/// The header naming the cluster a record was first produced on.
pub const HEADER_ORIGIN: &str = "runnel-origin";
/// Bytes read from a local partition per batch sent; doubled per read while the link
/// is behind, up to [`MAX_READ_BYTES`].
const READ_BYTES: usize = 1 << 20;
const MAX_READ_BYTES: usize = 8 << 20;
/// Batches per partition on the way to the remote at once. The remote remembers the
/// last five batches of each producer per partition (`log::producers`): every batch a
/// restart may send again must be among them, so this stays below five.
const MAX_IN_FLIGHT: usize = 4;
/// How long an idle partition waits before looking again (a new record wakes it sooner).
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// How long a drained pipeline waits for new records before storing its position.
const SAVE_WHEN_DRY: Duration = Duration::from_millis(200);
/// First pause after a failure; doubled per failure in a row up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// Why a link stopped: a message for the status, and whether it is a refusal (the link
/// is `paused` until someone fixes something) or a failure that passes (`retrying`).
#[derive(Debug)]
pub struct LinkError {
    pub message: String,
    pub refusal: bool,
}

impl From<BrokerError> for LinkError {
    fn from(e: BrokerError) -> LinkError {
        LinkError { message: e.to_string(), refusal: false }
    }
}

fn remote_err(remote: &str, what: &str, s: &tonic::Status) -> LinkError {
    LinkError { message: describe(remote, what, s), refusal: is_refusal(s) }
}

/// What a link shares with the status calls.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub state: Mutex<&'static str>,
    pub last_error: Mutex<Option<String>>,
    /// Records appended at the remote (duplicates not counted) since start.
    pub replicated: AtomicU64,
    /// Per partition: the first local offset not yet examined.
    pub positions: Mutex<Vec<Arc<AtomicI64>>>,
    /// Per partition: the timestamp of the oldest record not yet at the remote (0: none).
    pub oldest_unsent_ms: Mutex<Vec<Arc<AtomicI64>>>,
    /// (when, replicated then, rate) for the throughput figure.
    pub rate: Mutex<Option<(Instant, u64, f64)>>,
}

impl LinkStats {
    /// Records per second since the previous call at least a second ago.
    pub fn rate(&self) -> f64 {
        let now = Instant::now();
        let total = self.replicated.load(Relaxed);
        let mut r = self.rate.lock();
        match *r {
            Some((at, before, rate)) => {
                let dt = now.duration_since(at).as_secs_f64();
                if dt >= 1.0 {
                    let rate = (total - before) as f64 / dt;
                    *r = Some((now, total, rate));
                    rate
                } else {
                    rate
                }
            }
            None => {
                *r = Some((now, total, 0.0));
                0.0
            }
        }
    }
}

/// What a link needs of the broker.
#[derive(Clone)]
pub struct Ctx {
    pub meta: Arc<Meta>,
    pub topics: Arc<Topics>,
    pub registry: Registry,
    /// This cluster's name.
    pub local: String,
}

/// Runs the link until `stop`; failures are reported in `stats` and retried after a
/// pause that grows while they repeat.
pub async fn run(topic: String, remote: Remote, ctx: Ctx, stats: Arc<LinkStats>, stop: CancellationToken) {
    let mut pause = FIRST_PAUSE;
    while !stop.is_cancelled() {
        *stats.state.lock() = "running";
        let before = stats.replicated.load(Relaxed);
        // A stop drops the session wherever it is: the position on disk is all a
        // restart needs (a batch in flight is `pending` and is sent again).
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = session(&topic, &remote, &ctx, &stats, &stop) => r,
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                if stats.replicated.load(Relaxed) > before {
                    pause = FIRST_PAUSE;
                }
                *stats.state.lock() = if e.refusal { "paused" } else { "retrying" };
                tracing::warn!(%topic, remote = %remote.name, error = %e.message, retry_in = ?pause, "replication stopped");
                *stats.last_error.lock() = Some(e.message);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BrokerError::Storage(format!("task failed: {e}")))?
}

/// The producer id this cluster uses at `remote` (asked for once, then stored).
async fn producer_id(remote: &Remote, ctx: &Ctx) -> Result<i64, LinkError> {
    let meta = Arc::clone(&ctx.meta);
    let name = remote.name.clone();
    if let Some(pid) = blocking(move || store::producer_id(meta.db(), &name)).await? {
        return Ok(pid);
    }
    let resp = remote
        .broker()
        .init_producer(v1::InitProducerRequest {})
        .await
        .map_err(|s| remote_err(&remote.name, "asking for a producer id", &s))?
        .into_inner();
    let (meta, name, pid) = (Arc::clone(&ctx.meta), remote.name.clone(), resp.producer_id);
    blocking(move || store::put_producer_id(meta.db(), &name, pid)).await?;
    Ok(pid)
}

/// Describes the topic at the remote, creating it like the local one if it is missing.
async fn remote_topic(topic: &str, remote: &Remote, ctx: &Ctx) -> Result<v1::TopicInfo, LinkError> {
    let local = ctx.topics.get(topic)?;
    let mut admin = remote.admin();
    let info = match admin.describe_topic(v1::TopicRef { topic: topic.to_owned() }).await {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound && s.message().contains("topic") => {
            let c = &local.meta.config;
            let config = v1::TopicConfig {
                partitions: c.partitions,
                validation: c.validation.to_proto() as i32,
                value_subject: c.value_subject.clone(),
                key_subject: c.key_subject.clone().unwrap_or_default(),
                auto_register: c.auto_register,
                ..Default::default()
            };
            let req =
                v1::CreateTopicRequest { topic: topic.to_owned(), config: Some(config), if_not_exists: true };
            let info = admin
                .create_topic(req)
                .await
                .map_err(|s| remote_err(&remote.name, &format!("creating topic '{topic}'"), &s))?
                .into_inner();
            tracing::info!(%topic, remote = %remote.name, "created the topic at the remote");
            info
        }
        Err(s) => return Err(remote_err(&remote.name, &format!("describing topic '{topic}'"), &s)),
    };
    let (here, there) = (local.partitions.len(), info.partitions.len());
    if there < here {
        return Err(LinkError {
            message: format!(
                "topic '{topic}' has {here} partitions here and {there} at cluster '{}': add partitions there",
                remote.name
            ),
            refusal: true,
        });
    }
    Ok(info)
}

async fn session(
    topic: &str,
    remote: &Remote,
    ctx: &Ctx,
    stats: &Arc<LinkStats>,
    stop: &CancellationToken,
) -> Result<(), LinkError> {
    let pid = producer_id(remote, ctx).await?;
    let info = remote_topic(topic, remote, ctx).await?;
    let local = ctx.topics.get(topic)?;
    let remote_subject = info.config.map(|c| c.value_subject).unwrap_or_default();
    let schemas = Arc::new(tokio::sync::Mutex::new(Schemas {
        map: HashMap::new(),
        local_subject: local.meta.config.value_subject.clone(),
        remote_subject,
        rewrite: local.meta.config.validation != Validation::None,
    }));
    let n = local.partitions.len();
    {
        let mut positions = stats.positions.lock();
        let mut oldest = stats.oldest_unsent_ms.lock();
        while positions.len() < n {
            positions.push(Arc::new(AtomicI64::new(0)));
            oldest.push(Arc::new(AtomicI64::new(0)));
        }
    }
    let maps: Vec<Arc<Mutex<OffsetMap>>> =
        (0..n).map(|_| Arc::new(Mutex::new(OffsetMap::default()))).collect();
    let loops = local.partitions.iter().enumerate().map(|(p, log)| {
        let part = Partition {
            topic,
            partition: p as u32,
            log: Arc::clone(log),
            remote,
            ctx,
            pid,
            schemas: Arc::clone(&schemas),
            stats,
            position: Arc::clone(&stats.positions.lock()[p]),
            oldest: Arc::clone(&stats.oldest_unsent_ms.lock()[p]),
            offsets: Arc::clone(&maps[p]),
        };
        async move { part.run(stop).await }
    });
    let groups = sync_positions(topic, remote, ctx, &maps, stop);
    tokio::try_join!(futures::future::try_join_all(loops), groups)?;
    Ok(())
}

/// Batches sent, as (first origin offset, last origin offset, remote base offset, count):
/// enough to translate a committed origin offset into a remote one at or before it.
#[derive(Debug, Default)]
struct OffsetMap {
    sent: std::collections::VecDeque<(i64, i64, i64, i32)>,
}

/// Pairs kept per partition: a group this far behind is not translated until it moves.
const OFFSET_PAIRS: usize = 4096;

impl OffsetMap {
    fn push(&mut self, first: i64, last: i64, remote_base: i64, count: i32) {
        if self.sent.back().is_some_and(|b| b.0 >= first) {
            return;
        }
        if self.sent.len() == OFFSET_PAIRS {
            self.sent.pop_front();
        }
        self.sent.push_back((first, last, remote_base, count));
    }

    /// The remote offset to resume at for a group that committed `committed` here (the
    /// first offset it has not read). Within a batch of only this cluster's records (no
    /// other cluster's interleaved: `last - first + 1 == count`) the remote offsets follow
    /// the origin's one for one, so the translation is exact; otherwise it is the start of
    /// the batch holding the first origin record at or after `committed` (at most that
    /// batch is delivered again, never a record skipped). Past the last batch sent when the
    /// group read everything sent; `None` when the map does not reach back.
    fn translate(&self, committed: i64) -> Option<i64> {
        let first = self.sent.front()?;
        if committed < first.0 {
            return None;
        }
        for &(first, last, base, count) in &self.sent {
            if committed <= last {
                let dense = last - first + 1 == i64::from(count);
                return Some(if dense && committed > first { base + (committed - first) } else { base });
            }
        }
        self.sent.back().map(|&(_, _, base, count)| base + i64::from(count))
    }
}

/// How often group offsets and subscription positions are carried to the remote.
const GROUP_SYNC_EVERY: Duration = Duration::from_secs(1);

/// Carries this cluster's committed group offsets and queue subscriptions' positions on
/// `topic` to the remote, translated, so a consumer that moves there resumes at or
/// shortly before where it stopped. Group commits go without membership, which the
/// remote refuses while the group has live members there, and a subscription's
/// position is refused while it has consumers there: positions follow only groups and
/// subscriptions not consuming at the remote. Internal groups (`__function.*` and the
/// like) stay. A subscription's position is the offset below which everything is
/// acknowledged; records acknowledged above it one by one are delivered again there.
async fn sync_positions(
    topic: &str,
    remote: &Remote,
    ctx: &Ctx,
    maps: &[Arc<Mutex<OffsetMap>>],
    stop: &CancellationToken,
) -> Result<(), LinkError> {
    // (group or subscription, partition) → the remote offset last carried.
    let mut shipped: HashMap<(Carried, u32), i64> = HashMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(GROUP_SYNC_EVERY) => {}
        }
        let meta = Arc::clone(&ctx.meta);
        let t = topic.to_owned();
        let created_ms = ctx.topics.get(topic).map(|t| t.meta.created_ms)?;
        let positions = blocking(move || {
            let mut out: HashMap<Carried, Vec<(u32, i64)>> = HashMap::new();
            for g in meta.groups_with_offsets()? {
                if g.starts_with("__") {
                    continue;
                }
                let offsets = meta.committed(&g, &t)?;
                if !offsets.is_empty() {
                    out.insert(Carried::Group(g), offsets);
                }
            }
            for (s, p, mark) in crate::subscriptions::store::positions(&meta, &t, created_ms)? {
                out.entry(Carried::Subscription(s)).or_default().push((p, mark));
            }
            Ok(out)
        })
        .await?;
        for (who, offsets) in positions {
            let mut translated = Vec::new();
            for (p, c) in offsets {
                let Some(map) = maps.get(p as usize) else { continue };
                let Some(r) = map.lock().translate(c) else { continue };
                if shipped.get(&(who.clone(), p)) != Some(&r) {
                    translated.push(v1::PartitionOffset { partition: p, offset: r, timestamp_ms: 0 });
                }
            }
            if translated.is_empty() {
                continue;
            }
            let result = match &who {
                Carried::Group(group) => {
                    let req = v1::CommitRequest {
                        group: group.clone(),
                        topic: topic.to_owned(),
                        member_id: String::new(),
                        generation: 0,
                        offsets: translated.clone(),
                    };
                    v1::groups_client::GroupsClient::new(remote.chan()).commit(req).await.map(|_| ())
                }
                Carried::Subscription(subscription) => {
                    let req = v1::CarrySubscriptionRequest {
                        topic: topic.to_owned(),
                        subscription: subscription.clone(),
                        positions: translated.clone(),
                    };
                    remote.replication().carry_subscription(req).await.map(|_| ())
                }
            };
            match result {
                Ok(()) => {
                    for o in translated {
                        shipped.insert((who.clone(), o.partition), o.offset);
                    }
                }
                // Live members or consumers there: they consume at the remote; leave them alone.
                Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
                Err(s) => {
                    tracing::debug!(%topic, ?who, error = %describe(&remote.name, "carrying positions", &s), "positions not carried")
                }
            }
        }
    }
}

/// Whose position is carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Carried {
    Group(String),
    Subscription(String),
}

/// Local schema id → remote schema id, for one link.
struct Schemas {
    map: HashMap<u32, u32>,
    local_subject: String,
    remote_subject: String,
    /// Whether values carry the Confluent frame (validation `id` or `full`).
    rewrite: bool,
}

impl Schemas {
    /// The remote id of local `id`, registering at the remote the local subject's versions
    /// up to it, in order (and `id` itself if it is not a version of the subject).
    async fn remote_id(&mut self, id: u32, registry: &Registry, remote: &Remote) -> Result<u32, LinkError> {
        if let Some(r) = self.map.get(&id) {
            return Ok(*r);
        }
        let mut todo: Vec<(String, u32, String)> = Vec::new();
        let versions = registry.versions(&self.local_subject, false).unwrap_or_default();
        let mut found = false;
        for v in versions {
            let Ok(sv) = registry.version(&self.local_subject, VersionSelector::Number(v)) else { continue };
            if !self.map.contains_key(&sv.id) {
                todo.push((
                    format!("version {v} of `{}` (id {})", self.local_subject, sv.id),
                    sv.id,
                    sv.schema,
                ));
            }
            if sv.id == id {
                found = true;
                break;
            }
        }
        if !found {
            let (schema, _) = registry.schema_text_by_id(id).map_err(BrokerError::from)?;
            todo.push((format!("schema id {id}"), id, schema));
        }
        let mut client = remote.registry();
        for (what, local_id, schema) in todo {
            let req = v1::SubjectSchemaRequest { subject: self.remote_subject.clone(), schema };
            let sv = client.register(req).await.map_err(|s| {
                remote_err(&remote.name, &format!("registering {what} under `{}`", self.remote_subject), &s)
            })?;
            self.map.insert(local_id, sv.into_inner().id);
        }
        self.map.get(&id).copied().ok_or_else(|| LinkError {
            message: format!("schema id {id} was not registered at cluster '{}'", remote.name),
            refusal: false,
        })
    }
}

/// One record of this cluster's origin, owned.
struct Rec {
    offset: i64,
    timestamp_ms: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Bytes)>,
}

struct Partition<'a> {
    topic: &'a str,
    partition: u32,
    log: Arc<PartitionLog>,
    remote: &'a Remote,
    ctx: &'a Ctx,
    pid: i64,
    schemas: Arc<tokio::sync::Mutex<Schemas>>,
    stats: &'a Arc<LinkStats>,
    position: Arc<AtomicI64>,
    oldest: Arc<AtomicI64>,
    offsets: Arc<Mutex<OffsetMap>>,
}

/// A batch sent and not yet acknowledged.
struct Flight {
    correlation_id: u64,
    /// The local range it covers ends here (it starts where the previous one ended).
    end: i64,
    sequence: i32,
    count: i32,
    first_offset: i64,
    last_offset: i64,
    /// Its first record's timestamp, for the lag in seconds.
    oldest_ms: i64,
    /// The remote's answer, once it came (answers may come out of order).
    answer: Option<v1::ProduceResponse>,
}

impl Partition<'_> {
    async fn load(&self) -> Result<Position, LinkError> {
        let (meta, remote, topic, p) =
            (Arc::clone(&self.ctx.meta), self.remote.name.clone(), self.topic.to_owned(), self.partition);
        Ok(blocking(move || store::position(meta.db(), &remote, &topic, p)).await?)
    }

    async fn save(&self, pos: &Position) -> Result<(), LinkError> {
        let (meta, remote, topic, p) =
            (Arc::clone(&self.ctx.meta), self.remote.name.clone(), self.topic.to_owned(), self.partition);
        let pos = pos.clone();
        blocking(move || store::put_position(meta.db(), &remote, &topic, p, &pos)).await?;
        Ok(())
    }

    /// Reads committed records from `from` (at most about `max_bytes` of log), up to
    /// `until` if given: those of this cluster's origin, and where the next read continues.
    async fn read(
        &self,
        from: i64,
        until: Option<i64>,
        max_bytes: usize,
    ) -> Result<(Vec<Rec>, i64), LinkError> {
        let log = Arc::clone(&self.log);
        let read = blocking(move || {
            log.read_committed(from, max_bytes).map(|c| {
                let mut read = c.read;
                read.batches = txn::committed_only(&read.batches, &c.aborted);
                read
            })
        })
        .await;
        let read = match read {
            Ok(r) => r,
            Err(BrokerError::OffsetOutOfRange { log_start, high_watermark, .. }) if from < log_start => {
                // Retention removed records before they were sent: nothing to do but go on.
                tracing::warn!(
                    topic = self.topic,
                    partition = self.partition,
                    from,
                    log_start,
                    "records removed by retention before replication"
                );
                return Ok((Vec::new(), log_start.min(high_watermark)));
            }
            Err(e) => return Err(e.into()),
        };
        let mut next = from.max(read.next_offset.min(until.unwrap_or(i64::MAX)));
        let mut out = Vec::new();
        for batch in runnel_proto::batch::batches(&read.batches) {
            let batch = batch.map_err(BrokerError::from)?;
            if batch.is_control() {
                continue;
            }
            for r in batch.records() {
                let r = r.map_err(BrokerError::from)?;
                if r.offset < from {
                    continue;
                }
                if until.is_some_and(|u| r.offset >= u) {
                    break;
                }
                next = next.max(r.offset + 1);
                if r.headers.get(HEADER_ORIGIN).is_some() {
                    continue;
                }
                let owned = |b: Option<&[u8]>| b.map(|b| read.batches.slice_ref(b));
                out.push(Rec {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: owned(r.key),
                    value: owned(r.value),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| {
                            (h.key.to_owned(), h.value.map(|v| read.batches.slice_ref(v)).unwrap_or_default())
                        })
                        .collect(),
                });
            }
        }
        Ok((out, next))
    }

    /// Reads the local range `[from, end)` again, as stored in flight by an earlier run:
    /// the records expected are `count` (fewer only if retention removed some since).
    async fn read_range(&self, from: i64, end: i64, count: i32) -> Result<Vec<Rec>, LinkError> {
        let mut all = Vec::new();
        let mut at = from;
        while at < end {
            let (mut recs, next) = self.read(at, Some(end), READ_BYTES).await?;
            all.append(&mut recs);
            if next <= at {
                break;
            }
            at = next;
        }
        if all.len() as i32 != count {
            tracing::warn!(
                topic = self.topic,
                partition = self.partition,
                expected = count,
                found = all.len(),
                "a range in flight changed (retention?); sending what is left"
            );
        }
        Ok(all)
    }

    /// Tails the partition and keeps up to [`MAX_IN_FLIGHT`] batches on the way to the
    /// remote over one `ProduceStream`, which the remote appends in the order sent. Each
    /// round reads what it can, stores the position with every batch in flight (one
    /// commit, which also folds in the batches acknowledged since the last one), then
    /// sends the new batches; acknowledgements only move the position in memory, and it
    /// is stored again when the pipeline runs dry. So a commit's cost is shared by the
    /// batches of a round, and the remote's fsyncs overlap the next batches' reads.
    async fn run(self, stop: &CancellationToken) -> Result<(), LinkError> {
        let stored = self.load().await?;
        let mut resend: std::collections::VecDeque<(i64, i32)> = stored.to_resend().into();
        // Acknowledged by the remote: everything below `acked.0`; the next sequence after it.
        let mut acked = (stored.next_offset, stored.sequence);
        let mut on_disk = stored;
        self.position.store(acked.0, Relaxed);
        let mut read_at = acked.0;
        let mut next_sequence = acked.1;
        let mut in_flight: std::collections::VecDeque<Flight> = std::collections::VecDeque::new();
        let mut read_bytes = READ_BYTES;
        let mut correlation_id = 0u64;
        let mut watch = self.log.watch_high_watermark();
        let what = format!("appending to '{}' partition {}", self.topic, self.partition);

        let (requests, rx) = tokio::sync::mpsc::channel::<v1::ProduceRequest>(MAX_IN_FLIGHT);
        let mut answers = self
            .remote
            .broker()
            .produce_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| remote_err(&self.remote.name, &what, &s))?
            .into_inner();

        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            // Fill the pipeline.
            let mut fresh: Vec<(Flight, Bytes)> = Vec::new();
            while in_flight.len() + fresh.len() < MAX_IN_FLIGHT {
                let (records, end) = if let Some((end, count)) = resend.pop_front() {
                    (self.read_range(read_at, end, count).await?, end)
                } else {
                    let (records, next) = self.read(read_at, None, read_bytes).await?;
                    if next == read_at {
                        read_bytes = READ_BYTES;
                        break;
                    }
                    // Behind (the read stopped at its size, not at the end): read more at
                    // once next time, so fewer, larger batches carry the backlog.
                    read_bytes = if next < self.log.last_stable_offset() {
                        (read_bytes * 2).min(MAX_READ_BYTES)
                    } else {
                        READ_BYTES
                    };
                    (records, next)
                };
                read_at = end;
                let (Some(first), Some(last)) = (records.first(), records.last()) else {
                    // Only other clusters' records: the next batch's range takes them in.
                    continue;
                };
                let count = records.len() as i32;
                let batch = self.build(&records, next_sequence).await?;
                correlation_id += 1;
                fresh.push((
                    Flight {
                        correlation_id,
                        end,
                        sequence: next_sequence,
                        count,
                        first_offset: first.offset,
                        last_offset: last.offset,
                        oldest_ms: first.timestamp_ms.max(1),
                        answer: None,
                    },
                    batch,
                ));
                next_sequence = next_sequence.wrapping_add(count);
            }

            if in_flight.is_empty() && fresh.is_empty() {
                // Dry: everything read is at the remote (the rest held only other
                // clusters' records). That is stored if no new record comes soon; if
                // one does, the next write-ahead folds it in at no extra commit (until
                // then a restart sends the batches on disk again: duplicates there).
                acked.0 = read_at;
                self.position.store(acked.0, Relaxed);
                self.oldest.store(0, Relaxed);
                let pos = Position { next_offset: acked.0, sequence: acked.1, ..Position::default() };
                let stale = pos != on_disk;
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = watch.changed() => {}
                    _ = tokio::time::sleep(if stale { SAVE_WHEN_DRY } else { IDLE_WAIT }) => {
                        if stale {
                            self.save(&pos).await?;
                            on_disk = pos;
                        }
                    }
                }
                continue;
            }

            if !fresh.is_empty() {
                // Write-ahead: every batch about to be in flight, in one commit.
                let pos = Position {
                    next_offset: acked.0,
                    sequence: acked.1,
                    pending: None,
                    in_flight: in_flight
                        .iter()
                        .chain(fresh.iter().map(|(f, _)| f))
                        .map(|f| (f.end, f.count))
                        .collect(),
                };
                self.save(&pos).await?;
                on_disk = pos;
                for (flight, batch) in fresh {
                    if in_flight.is_empty() {
                        self.oldest.store(flight.oldest_ms, Relaxed);
                    }
                    let req = v1::ProduceRequest {
                        correlation_id: flight.correlation_id,
                        topic: self.topic.to_owned(),
                        partition: self.partition,
                        batch,
                    };
                    in_flight.push_back(flight);
                    if requests.send(req).await.is_err() {
                        return Err(LinkError {
                            message: format!("{what} at cluster '{}': the stream closed", self.remote.name),
                            refusal: false,
                        });
                    }
                }
            }

            // Wait for an answer, then take every answer already there too (so that the
            // next round fills several slots with one commit); the oldest batches
            // answered move the position.
            let mut answer = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                a = answers.message() => a,
            };
            loop {
                let a = match answer {
                    Ok(Some(a)) => a,
                    Ok(None) => {
                        return Err(LinkError {
                            message: format!("{what} at cluster '{}': the stream ended", self.remote.name),
                            refusal: false,
                        })
                    }
                    Err(s) => return Err(remote_err(&self.remote.name, &what, &s)),
                };
                if let Some(e) = &a.error {
                    return Err(LinkError {
                        message: format!("{what} at cluster '{}': {}", self.remote.name, e.message),
                        refusal: !e.retryable,
                    });
                }
                let id = a.correlation_id;
                match in_flight.iter_mut().find(|f| f.correlation_id == id) {
                    Some(f) => f.answer = Some(a),
                    None => {
                        return Err(LinkError {
                            message: format!(
                                "{what} at cluster '{}': an answer to no batch in flight ({id})",
                                self.remote.name
                            ),
                            refusal: false,
                        })
                    }
                }
                match answers.message().now_or_never() {
                    Some(next) => answer = next,
                    None => break,
                }
            }
            while in_flight.front().is_some_and(|f| f.answer.is_some()) {
                let Some(f) = in_flight.pop_front() else { break };
                let Some(a) = f.answer else { break };
                if !a.duplicate {
                    self.stats.replicated.fetch_add(f.count as u64, Relaxed);
                }
                // A duplicate is answered with its original offsets: the pair holds either way.
                self.offsets.lock().push(f.first_offset, f.last_offset, a.base_offset, f.count);
                acked = (f.end, f.sequence.wrapping_add(f.count));
                self.position.store(acked.0, Relaxed);
                self.oldest.store(in_flight.front().map_or(0, |n| n.oldest_ms), Relaxed);
            }
        }
    }

    /// The batch for the remote: keys, timestamps and headers kept, the origin added,
    /// schema ids made the remote's.
    async fn build(&self, records: &[Rec], sequence: i32) -> Result<Bytes, LinkError> {
        let mut schemas = self.schemas.lock().await;
        let mut batch = BatchBuilder::new();
        let origin = self.ctx.local.as_bytes();
        let mut value_buf = Vec::new();
        for r in records {
            let mut headers: Vec<(&str, &[u8])> =
                r.headers.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
            headers.push((HEADER_ORIGIN, origin));
            let value: Option<&[u8]> = match r.value.as_deref() {
                Some(v) if schemas.rewrite && v.len() >= 5 && v[0] == 0 => {
                    let id = u32::from_be_bytes([v[1], v[2], v[3], v[4]]);
                    let remote_id = schemas.remote_id(id, &self.ctx.registry, self.remote).await?;
                    value_buf.clear();
                    value_buf.push(0);
                    value_buf.extend_from_slice(&remote_id.to_be_bytes());
                    value_buf.extend_from_slice(&v[5..]);
                    Some(&value_buf)
                }
                other => other,
            };
            batch.push(r.key.as_deref(), value, r.timestamp_ms, &headers);
        }
        Ok(batch.finish(self.pid, 0, sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::OffsetMap;

    #[test]
    fn translation_is_exact_in_dense_batches_and_never_after_otherwise() {
        let mut m = OffsetMap::default();
        // Origin offsets 10..=19 (ten of this cluster's records) went out at remote 100.
        m.push(10, 19, 100, 10);
        // Origin 20..=29 held four records of this cluster among others': remote 110..=113.
        m.push(20, 29, 110, 4);
        assert_eq!(m.translate(5), None, "before the map");
        assert_eq!(m.translate(10), Some(100));
        assert_eq!(m.translate(15), Some(105), "exact within a dense batch");
        assert_eq!(m.translate(20), Some(110));
        assert_eq!(m.translate(25), Some(110), "the start of a sparse batch");
        assert_eq!(m.translate(30), Some(114), "past everything sent");
    }
}
