//! The gRPC transport's consumer, under [`Consumer<T>`](crate::Consumer) and
//! [`RawConsumer`](crate::RawConsumer): a [`RawReader`] yields records with
//! their value as bytes, a [`ConsumerHandle`] commits, seeks and leaves.
//!
//! One task per assigned partition follows the partition with a `Fetch`
//! stream (`follow = true`), reconnecting from where it stopped when the
//! stream breaks; their responses meet in one bounded channel, so a slow
//! reader slows the fetches (and HTTP/2 flow control slows the broker).
//!
//! With a group, a task holds the `Groups.Join` stream: each assignment it
//! brings stops the fetchers of revoked partitions (committing what was
//! processed first, under auto-commit) and starts fetchers for new ones at the group's committed
//! offset, or at the configured position when there is none. It heart-beats
//! at the interval the broker asks for.
//!
//! Each fetcher carries an epoch; a seek or a reassignment bumps the
//! partition's epoch so that records still in the channel from the old
//! fetcher are dropped instead of delivered out of place.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use runnel_proto::batch;
use runnel_proto::v1;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connection::{Backoff, Connection};
use crate::error::{is_retryable_status, ClientError};
use crate::transport::{
    Acknowledge, ConsumerControl, ConsumerOptions, Position, RawMessage, RecordSource, TopicBinding,
};

/// The `partition` of an item that is about the group, not a partition.
const GROUP_ERROR: u32 = u32::MAX;

enum Item {
    Data { partition: u32, epoch: u64, batches: Bytes },
    Failed { partition: u32, epoch: u64, error: ClientError },
}

struct Fetcher {
    epoch: u64,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    fetchers: BTreeMap<u32, Fetcher>,
    /// Next offset to deliver per partition (records below it are skipped:
    /// a fetch starts at the batch holding the offset asked for).
    /// (Ordered maps: a consumer reads a few partitions, and these are looked at per
    /// record, where a small tree beats hashing the key.)
    position: BTreeMap<u32, i64>,
    /// Next offset to commit per partition: past every delivered record.
    processed: BTreeMap<u32, i64>,
    /// Last offsets committed, so unchanged ones are not committed again.
    committed: HashMap<u32, i64>,
    /// The group membership (member id, generation) once assigned.
    member: Option<(String, u64)>,
    next_epoch: u64,
}

struct Shared {
    connection: Connection,
    topic: String,
    options: ConsumerOptions,
    state: Mutex<State>,
    tx: mpsc::Sender<Item>,
    /// When offsets were last committed (for auto-commit).
    last_commit: Mutex<Instant>,
}

/// Opens a consumer: the handle (commits, seeks, membership) and the reader (records).
pub(crate) async fn open(
    connection: &Connection,
    topic: &TopicBinding,
    options: ConsumerOptions,
) -> Result<(ConsumerHandle, RawReader), ClientError> {
    let (tx, rx) = mpsc::channel(options.buffer.max(1));
    let shared = Arc::new(Shared {
        connection: connection.clone(),
        topic: topic.name.clone(),
        options,
        state: Mutex::new(State::default()),
        tx,
        last_commit: Mutex::new(Instant::now()),
    });
    let group_task = match shared.options.group.clone() {
        Some(group) => Some(tokio::spawn(group_loop(shared.clone(), group))),
        None => {
            let mut partitions: Vec<u32> = if shared.options.partitions.is_empty() {
                topic.partitions.clone()
            } else {
                shared.options.partitions.clone()
            };
            partitions.sort_unstable();
            let starts = connection.list_offsets(&topic.name, &partitions, shared.options.from).await?;
            for (p, offset) in starts {
                start_fetcher(&shared, p, offset);
            }
            None
        }
    };
    let guard = Arc::new(Guard { shared: shared.clone(), group_task: Mutex::new(group_task) });
    let reader = RawReader { shared: shared.clone(), rx, ready: VecDeque::new() };
    Ok((ConsumerHandle { shared, guard }, reader))
}

/// The records side of a consumer.
pub(crate) struct RawReader {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Item>,
    /// Records unpacked from fetched batches, with their fetcher's epoch.
    ready: VecDeque<(u64, RawMessage)>,
}

impl RecordSource for RawReader {
    type Acker = Acker;

    /// The next buffered record, if one is: no waiting, no fetching.
    fn try_next(&mut self) -> Option<RawMessage> {
        while let Some((epoch, msg)) = self.ready.pop_front() {
            let mut state = self.shared.state.lock();
            // A seek or a reassignment since this record was read makes it stale.
            if state.fetchers.get(&msg.partition).is_none_or(|f| f.epoch != epoch) {
                continue;
            }
            match state.position.get_mut(&msg.partition) {
                Some(pos) if msg.offset >= *pos => *pos = msg.offset + 1,
                _ => continue,
            }
            match state.processed.get_mut(&msg.partition) {
                Some(done) => *done = msg.offset + 1,
                None => {
                    state.processed.insert(msg.partition, msg.offset + 1);
                }
            }
            return Some(msg);
        }
        None
    }

    async fn next(&mut self) -> Option<Result<RawMessage, ClientError>> {
        loop {
            if let Some(msg) = self.try_next() {
                return Some(Ok(msg));
            }
            self.maybe_auto_commit().await;
            let auto = self.shared.options.auto_commit.filter(|_| self.shared.options.group.is_some());
            let item = match auto {
                Some(every) => {
                    let due = *self.shared.last_commit.lock() + every;
                    match tokio::time::timeout_at(due, self.rx.recv()).await {
                        Ok(item) => item,
                        Err(_) => continue,
                    }
                }
                None => self.rx.recv().await,
            };
            match item? {
                Item::Data { partition, epoch, batches } => {
                    if !self.is_current(partition, epoch) {
                        continue;
                    }
                    if let Err(e) = self.unpack(partition, epoch, &batches) {
                        return Some(Err(e));
                    }
                }
                Item::Failed { partition, epoch, error } => {
                    if self.is_current(partition, epoch) {
                        return Some(Err(error));
                    }
                }
            }
        }
    }

    /// A handle that marks records processed (a message's `ack`).
    fn acker(&self) -> Acker {
        Acker { shared: self.shared.clone() }
    }
}

impl RawReader {
    fn is_current(&self, partition: u32, epoch: u64) -> bool {
        if partition == GROUP_ERROR {
            return true;
        }
        self.shared.state.lock().fetchers.get(&partition).is_some_and(|f| f.epoch == epoch)
    }

    fn unpack(&mut self, partition: u32, epoch: u64, data: &Bytes) -> Result<(), ClientError> {
        for batch in batch::batches(data) {
            let batch = batch.map_err(|e| corrupt(partition, e))?;
            if batch.is_control() {
                continue;
            }
            for record in batch.records() {
                let r = record.map_err(|e| corrupt(partition, e))?;
                let msg = RawMessage {
                    partition,
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.map(|k| data.slice_ref(k)),
                    value: r.value.map_or_else(Bytes::new, |v| data.slice_ref(v)),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.map_or_else(Bytes::new, |v| data.slice_ref(v))))
                        .collect(),
                };
                self.ready.push_back((epoch, msg));
            }
        }
        Ok(())
    }

    async fn maybe_auto_commit(&mut self) {
        let Some(every) = self.shared.options.auto_commit else { return };
        if self.shared.options.group.is_none() {
            return;
        }
        {
            let mut last = self.shared.last_commit.lock();
            if last.elapsed() < every {
                return;
            }
            *last = Instant::now();
        }
        if let Err(e) = commit(&self.shared, None).await {
            // Auto-commit is best effort; the next one carries the offsets again.
            tracing::debug!(error = %e, "auto-commit failed");
        }
    }
}

/// Stops a consumer's tasks and leaves its group when the consumer is dropped.
struct Guard {
    shared: Arc<Shared>,
    group_task: Mutex<Option<JoinHandle<()>>>,
}

impl Guard {
    /// Stops every task; returns the membership to leave, if any.
    fn stop(&self) -> Option<(String, String)> {
        if let Some(task) = self.group_task.lock().take() {
            task.abort();
        }
        let mut state = self.shared.state.lock();
        for (_, f) in std::mem::take(&mut state.fetchers) {
            f.task.abort();
        }
        let member = state.member.take()?;
        Some((self.shared.options.group.clone()?, member.0))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Leave the group now rather than after the session timeout, so the
        // other members get the partitions at once.
        if let Some((group, member_id)) = self.stop() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let mut svc = self.shared.connection.groups();
                handle.spawn(async move {
                    let _ = svc.leave(v1::LeaveRequest { group, member_id }).await;
                });
            }
        }
    }
}

/// The control side of a consumer: commits, seeks, membership. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ConsumerHandle {
    shared: Arc<Shared>,
    guard: Arc<Guard>,
}

impl ConsumerControl for ConsumerHandle {
    /// The offset of the next record delivered from `partition`; `None` if it is not read.
    fn position(&self, partition: u32) -> Option<i64> {
        self.shared.state.lock().position.get(&partition).copied()
    }

    fn topic(&self) -> &str {
        &self.shared.topic
    }

    fn assignment(&self) -> Vec<u32> {
        self.shared.state.lock().fetchers.keys().copied().collect()
    }

    async fn commit(&self) -> Result<(), ClientError> {
        *self.shared.last_commit.lock() = Instant::now();
        commit(&self.shared, None).await
    }

    async fn commit_offset(&self, partition: u32, next_offset: i64) -> Result<(), ClientError> {
        commit(&self.shared, Some(vec![(partition, next_offset)])).await
    }

    fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        if !self.shared.state.lock().fetchers.contains_key(&partition) {
            return Err(ClientError::InvalidArgument(format!(
                "partition {partition} is not assigned to this consumer"
            )));
        }
        start_fetcher(&self.shared, partition, offset);
        Ok(())
    }

    async fn close(&self) -> Result<(), ClientError> {
        // With manual commits the application owns the position (a transaction may
        // carry it): leaving commits nothing, as Kafka's consumers do.
        let auto = self.shared.options.group.is_some() && self.shared.options.auto_commit.is_some();
        let result = if auto { commit(&self.shared, None).await } else { Ok(()) };
        if let Some((group, member_id)) = self.guard.stop() {
            let mut svc = self.shared.connection.groups();
            let _ = svc.leave(v1::LeaveRequest { group, member_id }).await;
        }
        result
    }
}

/// Marks records processed on behalf of a consumer.
#[derive(Clone)]
pub(crate) struct Acker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acker").field("topic", &self.shared.topic).finish()
    }
}

impl Acknowledge for Acker {
    fn mark(&self, partition: u32, offset: i64) {
        mark(&self.shared.state, partition, offset);
    }
}

fn mark(state: &Mutex<State>, partition: u32, offset: i64) {
    let mut state = state.lock();
    let next = state.processed.entry(partition).or_insert(offset + 1);
    *next = (*next).max(offset + 1);
}

fn corrupt(partition: u32, e: batch::BatchError) -> ClientError {
    ClientError::Broker {
        code: v1::ErrorCode::CorruptBatch,
        message: format!("partition {partition}: a fetched batch is corrupt: {e}"),
    }
}

/// Commits `offsets`, or every processed offset not yet committed.
async fn commit(shared: &Shared, offsets: Option<Vec<(u32, i64)>>) -> Result<(), ClientError> {
    let Some(group) = shared.options.group.clone() else {
        return Err(ClientError::InvalidArgument("commit needs a consumer group".into()));
    };
    let (member_id, generation, offsets) = {
        let state = shared.state.lock();
        let (member_id, generation) = state.member.clone().unwrap_or_default();
        let offsets = offsets.unwrap_or_else(|| {
            state
                .processed
                .iter()
                .filter(|(p, o)| state.fetchers.contains_key(p) && state.committed.get(p) != Some(o))
                .map(|(&p, &o)| (p, o))
                .collect()
        });
        (member_id, generation, offsets)
    };
    if offsets.is_empty() {
        return Ok(());
    }
    let req = v1::CommitRequest {
        group,
        topic: shared.topic.clone(),
        member_id,
        generation,
        offsets: offsets
            .iter()
            .map(|&(partition, offset)| v1::PartitionOffset { partition, offset, timestamp_ms: 0 })
            .collect(),
    };
    shared
        .connection
        .retry(|| {
            let mut svc = shared.connection.groups();
            let req = req.clone();
            async move { svc.commit(req).await }
        })
        .await
        .map_err(|s| match s.code() {
            tonic::Code::FailedPrecondition => ClientError::Group(s.message().to_owned()),
            _ => ClientError::from_topic_status(&shared.topic, s),
        })?;
    let mut state = shared.state.lock();
    for (p, o) in offsets {
        state.committed.insert(p, o);
    }
    Ok(())
}

/// (Re)starts the fetcher of `partition` at `offset` under a new epoch.
fn start_fetcher(shared: &Arc<Shared>, partition: u32, offset: i64) {
    let mut state = shared.state.lock();
    state.next_epoch += 1;
    let epoch = state.next_epoch;
    if let Some(old) = state.fetchers.remove(&partition) {
        old.task.abort();
    }
    state.position.insert(partition, offset);
    let task = tokio::spawn(fetch_loop(
        shared.connection.clone(),
        shared.topic.clone(),
        partition,
        offset,
        epoch,
        shared.tx.clone(),
    ));
    state.fetchers.insert(partition, Fetcher { epoch, task });
}

fn stop_fetcher(state: &mut State, partition: u32) {
    if let Some(f) = state.fetchers.remove(&partition) {
        f.task.abort();
    }
    state.position.remove(&partition);
    state.processed.remove(&partition);
    state.committed.remove(&partition);
}

async fn fetch_loop(
    connection: Connection,
    topic: String,
    partition: u32,
    mut offset: i64,
    epoch: u64,
    tx: mpsc::Sender<Item>,
) {
    let mut backoff = Backoff::new(connection.options());
    loop {
        let req = v1::FetchRequest {
            topic: topic.clone(),
            partition,
            offset,
            max_bytes: 0,
            max_wait_ms: 0,
            follow: true,
            end_offset: 0,
            // Records of committed transactions only (and never the markers).
            isolation: v1::Isolation::ReadCommitted as i32,
        };
        let status = match connection.broker().fetch(req).await {
            Ok(resp) => {
                let mut stream = resp.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(resp)) => {
                            backoff.reset(connection.options());
                            offset = offset.max(resp.next_offset);
                            if resp.batches.is_empty() {
                                continue;
                            }
                            let item = Item::Data { partition, epoch, batches: resp.batches };
                            if tx.send(item).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break tonic::Status::unavailable("fetch stream ended"),
                        Err(status) => break status,
                    }
                }
            }
            Err(status) => status,
        };
        if status.code() == tonic::Code::OutOfRange {
            // The offset is no longer stored (retention) or not yet written:
            // continue from the earliest record still there, as Kafka's
            // `auto.offset.reset=earliest` does, rather than stall.
            match connection.list_offsets(&topic, &[partition], Position::Earliest).await {
                Ok(found) => {
                    let earliest = found.first().map_or(0, |&(_, o)| o);
                    tracing::warn!(
                        partition,
                        offset,
                        earliest,
                        "offset out of range; continuing at the earliest"
                    );
                    offset = earliest;
                    backoff.wait().await;
                    continue;
                }
                Err(e) => tracing::debug!(error = %e, "cannot list offsets"),
            }
        } else if !is_retryable_status(&status) && status.code() != tonic::Code::Unknown {
            let error = ClientError::from_topic_status(&topic, status);
            let _ = tx.send(Item::Failed { partition, epoch, error }).await;
            return;
        }
        tracing::debug!(%status, partition, "fetch stream broke; reconnecting");
        backoff.wait().await;
    }
}

async fn group_loop(shared: Arc<Shared>, group: String) {
    let connection = shared.connection.clone();
    let mut backoff = Backoff::new(connection.options());
    let mut member_id = String::new();
    loop {
        let req = v1::JoinRequest {
            group: group.clone(),
            topic: shared.topic.clone(),
            member_id: member_id.clone(),
            session_timeout_ms: shared.options.session_timeout.as_millis().min(u32::MAX as u128) as u32,
            client_id: "runnel-client".to_owned(),
        };
        let mut stream = match connection.groups().join(req).await {
            Ok(resp) => resp.into_inner(),
            Err(status) => {
                if !is_retryable_status(&status) {
                    let error = ClientError::from_topic_status(&shared.topic, status);
                    let _ = shared.tx.send(Item::Failed { partition: GROUP_ERROR, epoch: 0, error }).await;
                }
                backoff.wait().await;
                continue;
            }
        };
        let mut heartbeat: Option<tokio::time::Interval> = None;
        loop {
            tokio::select! {
                msg = stream.message() => match msg {
                    Ok(Some(assignment)) => {
                        backoff.reset(connection.options());
                        member_id = assignment.member_id.clone();
                        let every = Duration::from_millis(u64::from(assignment.heartbeat_interval_ms.max(100)));
                        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
                        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        heartbeat = Some(interval);
                        apply_assignment(&shared, &group, assignment).await;
                    }
                    Ok(None) | Err(_) => break,
                },
                _ = tick(&mut heartbeat) => {
                    let member = shared.state.lock().member.clone();
                    if let Some((member_id, generation)) = member {
                        let mut svc = connection.groups();
                        let req = v1::HeartbeatRequest { group: group.clone(), member_id, generation };
                        if let Err(status) = svc.heartbeat(req).await {
                            tracing::debug!(%status, "heartbeat failed");
                        }
                    }
                }
            }
        }
        tracing::debug!(group = %group, "group stream ended; joining again");
        backoff.wait().await;
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn apply_assignment(shared: &Arc<Shared>, group: &str, assignment: v1::Assignment) {
    let (revoked, added) = {
        let state = shared.state.lock();
        let revoked: Vec<u32> =
            state.fetchers.keys().copied().filter(|p| !assignment.partitions.contains(p)).collect();
        let added: Vec<u32> =
            assignment.partitions.iter().copied().filter(|p| !state.fetchers.contains_key(p)).collect();
        (revoked, added)
    };
    if !revoked.is_empty() {
        // Hand over what was processed so the next owner starts after it (with
        // auto-commit only: with manual commits the application owns the position).
        // Best effort: the broker may already consider the old generation gone.
        let offsets: Vec<(u32, i64)> = if shared.options.auto_commit.is_none() {
            Vec::new()
        } else {
            let state = shared.state.lock();
            revoked.iter().filter_map(|p| state.processed.get(p).map(|&o| (*p, o))).collect()
        };
        if !offsets.is_empty() {
            if let Err(e) = commit(shared, Some(offsets)).await {
                tracing::debug!(error = %e, "commit of revoked partitions failed");
            }
        }
        let mut state = shared.state.lock();
        for p in &revoked {
            stop_fetcher(&mut state, *p);
        }
    }
    shared.state.lock().member = Some((assignment.member_id.clone(), assignment.generation));
    if added.is_empty() {
        return;
    }
    let committed = committed_offsets(shared, group, &added).await;
    let mut missing: Vec<u32> = added.iter().copied().filter(|p| !committed.contains_key(p)).collect();
    missing.sort_unstable();
    let mut starts = committed.clone();
    if !missing.is_empty() {
        match shared.connection.list_offsets(&shared.topic, &missing, shared.options.from).await {
            Ok(found) => starts.extend(found),
            Err(e) => {
                tracing::warn!(error = %e, "cannot resolve start offsets; reading from the start");
                starts.extend(missing.iter().map(|&p| (p, 0)));
            }
        }
    }
    for p in added {
        let offset = starts.get(&p).copied().unwrap_or(0);
        start_fetcher(shared, p, offset);
        // What the group committed counts as committed.
        if let Some(&o) = committed.get(&p) {
            shared.state.lock().committed.insert(p, o);
        }
    }
}

async fn committed_offsets(shared: &Shared, group: &str, partitions: &[u32]) -> HashMap<u32, i64> {
    let req = v1::FetchCommittedRequest {
        group: group.to_owned(),
        topic: shared.topic.clone(),
        partitions: partitions.to_vec(),
    };
    let resp = shared
        .connection
        .retry(|| {
            let mut svc = shared.connection.groups();
            let req = req.clone();
            async move { svc.fetch_committed(req).await }
        })
        .await;
    match resp {
        Ok(r) => r.offsets.into_iter().filter(|o| o.offset >= 0).map(|o| (o.partition, o.offset)).collect(),
        Err(status) => {
            tracing::warn!(%status, "cannot fetch committed offsets");
            HashMap::new()
        }
    }
}
