//! Kafka's classic consumer-group protocol with client-side assignment:
//! members JoinGroup (the broker collects them and elects a leader), the
//! leader computes the assignment and hands it over in SyncGroup, the broker
//! passes each member its part; Heartbeat keeps a member alive and tells it
//! when to rejoin; LeaveGroup and missed session timeouts remove members.
//!
//! States: `Empty` → (a join) `PreparingRebalance` → (every known member has
//! rejoined, or the rebalance deadline passed and the absent were dropped)
//! `CompletingRebalance` → (the leader's SyncGroup) `Stable`. Assignments are
//! opaque bytes here: the clients' assignor owns them.
//!
//! These groups are Kafka's (several topics per member, client-side
//! assignment); the gRPC groups (`crate::groups`) are per topic with
//! server-side assignment. What both share is the committed offsets in
//! `meta.redb` (`offsets.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ResponseKind, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::groups::LiveMember;
use crate::kafka_codes::{code, kstr};

const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(300);
/// How often expired sessions and rebalance deadlines are checked.
const REAP_EVERY: Duration = Duration::from_millis(50);

/// Where a group is in its rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assigned.
    Stable,
}

#[derive(Debug)]
struct Member {
    /// The client id and host of its JoinGroup (DescribeGroups shows them).
    client: Client,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    /// (protocol name, its metadata) in the member's order of preference.
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    /// Set while the member's JoinGroup waits for the rebalance to complete.
    join_waiter: Option<oneshot::Sender<JoinGroupResponse>>,
    /// Set while a follower's SyncGroup waits for the leader's assignment.
    sync_waiter: Option<oneshot::Sender<SyncGroupResponse>>,
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending: HashSet<String>,
    /// When a rebalance gives up on members that have not rejoined.
    deadline: Option<Instant>,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashSet::new(),
            deadline: None,
        }
    }
}

/// The Kafka group coordinator (one per broker; the Kafka listener answers through it, the
/// console reads it).
#[derive(Debug, Default)]
pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    next_member: AtomicU64,
}

impl Coordinator {
    /// A group's state, generation and member ids (for tests and diagnostics).
    pub fn describe(&self, group: &str) -> Option<(GroupState, i32, Vec<String>)> {
        let groups = self.groups.lock();
        groups.get(group).map(|g| (g.state, g.generation, g.members.keys().cloned().collect()))
    }

    /// Every group this coordinator knows: (name, protocol type, state).
    pub(crate) fn list(&self) -> Vec<(String, String, GroupState)> {
        let groups = self.groups.lock();
        let mut out: Vec<_> = groups
            .iter()
            .map(|(name, g)| (name.clone(), g.protocol_type.clone().unwrap_or_default(), g.state))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The members of `group` with the partitions their consumer-protocol assignment gives
    /// them, one entry per (topic as the client named it, member), by topic then member.
    /// Members of other protocols (Connect, a custom one) are listed with no topic.
    pub fn live_members(&self, group: &str) -> Vec<LiveMember> {
        let groups = self.groups.lock();
        let Some(g) = groups.get(group) else { return Vec::new() };
        let mut out = Vec::new();
        for (id, m) in &g.members {
            let assigned =
                if m.protocol_type == "consumer" { assignment_topics(&m.assignment) } else { None };
            match assigned {
                Some(topics) if !topics.is_empty() => {
                    out.extend(topics.into_iter().map(|(topic, partitions)| LiveMember {
                        topic,
                        member_id: id.clone(),
                        client_id: m.client.id.clone(),
                        partitions,
                    }))
                }
                _ => out.push(LiveMember {
                    topic: String::new(),
                    member_id: id.clone(),
                    client_id: m.client.id.clone(),
                    partitions: Vec::new(),
                }),
            }
        }
        out.sort_by(|a, b| (&a.topic, &a.member_id).cmp(&(&b.topic, &b.member_id)));
        out
    }

    /// The groups with members.
    pub fn live_groups(&self) -> Vec<String> {
        let groups = self.groups.lock();
        let mut out: Vec<String> =
            groups.iter().filter(|(_, g)| !g.members.is_empty()).map(|(name, _)| name.clone()).collect();
        out.sort();
        out
    }

    /// What DescribeGroups shows of a group, if this coordinator knows it.
    pub(crate) fn snapshot(&self, group: &str) -> Option<GroupSnapshot> {
        let groups = self.groups.lock();
        let g = groups.get(group)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(GroupSnapshot {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: g
                .members
                .iter()
                .map(|(id, m)| MemberSnapshot {
                    member_id: id.clone(),
                    client_id: m.client.id.clone(),
                    client_host: m.client.host.clone(),
                    metadata: m
                        .protocols
                        .iter()
                        .find(|(p, _)| *p == protocol)
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Runs `f` with what this coordinator knows of `group`, while no member can join it;
    /// when `f` succeeds and `forget` is set, an empty group is forgotten (DeleteGroups).
    pub(crate) fn with_group_locked<T, E>(
        &self,
        group: &str,
        forget: bool,
        f: impl FnOnce(&LockedGroup) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut groups = self.groups.lock();
        let view = match groups.get(group) {
            None => LockedGroup::default(),
            Some(g) => LockedGroup {
                known: true,
                live: !g.members.is_empty(),
                consumer_protocol: g.protocol_type.as_deref() == Some("consumer"),
                subscribed: g
                    .members
                    .values()
                    .filter(|m| m.protocol_type == "consumer")
                    .flat_map(|m| m.protocols.iter().flat_map(|(_, md)| subscription_topics(md)))
                    .collect(),
            },
        };
        let out = f(&view)?;
        if forget && !view.live {
            groups.remove(group);
        }
        Ok(out)
    }

    /// Whether `member` of `group` may commit for `generation`: `Ok` or the Kafka error code.
    pub(crate) fn check_commit(&self, group: &str, member: &str, generation: i32) -> Result<(), i16> {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group) else {
            // A commit outside any group (generation -1): a standalone consumer.
            return if generation < 0 { Ok(()) } else { Err(code::UNKNOWN_MEMBER_ID) };
        };
        if generation < 0 && member.is_empty() {
            return if g.members.is_empty() { Ok(()) } else { Err(code::UNKNOWN_MEMBER_ID) };
        }
        let Some(m) = g.members.get_mut(member) else { return Err(code::UNKNOWN_MEMBER_ID) };
        m.last_seen = Instant::now();
        if generation != g.generation {
            return Err(code::ILLEGAL_GENERATION);
        }
        if g.state == GroupState::PreparingRebalance {
            return Err(code::REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }
}

/// What the coordinator knows of a group, for the admin APIs that must decide under its lock.
#[derive(Debug, Default)]
pub(crate) struct LockedGroup {
    /// The coordinator has the group (it may be empty).
    pub(crate) known: bool,
    /// It has members.
    pub(crate) live: bool,
    /// Its protocol type is "consumer", so members' metadata names their topics.
    pub(crate) consumer_protocol: bool,
    /// The topics its members subscribe to (consumer protocol only).
    pub(crate) subscribed: HashSet<String>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct GroupSnapshot {
    pub(crate) state: GroupState,
    pub(crate) protocol_type: String,
    pub(crate) protocol: String,
    pub(crate) members: Vec<MemberSnapshot>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub(crate) struct MemberSnapshot {
    pub(crate) member_id: String,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    /// Its metadata for the group's chosen protocol.
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

impl GroupState {
    /// Kafka's name of the state (ListGroups, DescribeGroups).
    pub fn kafka_name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// The topics of a consumer-protocol subscription (version prefix, then the body);
/// nothing when it does not parse.
fn subscription_topics(metadata: &Bytes) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    // Newer versions only add fields at the end: read them as the newest this crate knows.
    let version = version.clamp(0, 3);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .map(|s| s.topics.iter().map(|t| t.as_str().to_owned()).collect())
        .unwrap_or_default()
}

/// The (topic, partitions) of a consumer-protocol assignment; `None` if it does not decode
/// (an empty one, before the first SyncGroup, decodes to nothing).
fn assignment_topics(assignment: &Bytes) -> Option<Vec<(String, Vec<u32>)>> {
    use kafka_protocol::messages::ConsumerProtocolAssignment;
    use kafka_protocol::protocol::Decodable;
    if assignment.len() < 2 {
        return Some(Vec::new());
    }
    let mut buf = assignment.clone();
    let version = bytes::Buf::get_i16(&mut buf).clamp(0, 3);
    let decoded = ConsumerProtocolAssignment::decode(&mut buf, version).ok()?;
    Some(
        decoded
            .assigned_partitions
            .iter()
            .map(|t| {
                let partitions = t.partitions.iter().filter_map(|p| u32::try_from(*p).ok()).collect();
                (t.topic.as_str().to_owned(), partitions)
            })
            .collect(),
    )
}

/// Who sent a JoinGroup: its client id and host (`/ip`, as Kafka shows it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) host: String,
}

fn join_error(error_code: i16, member_id: StrBytes) -> JoinGroupResponse {
    let mut r = JoinGroupResponse::default();
    r.error_code = error_code;
    r.generation_id = -1;
    r.member_id = member_id;
    r
}

/// JoinGroup: registers the member and waits until the rebalance completes.
pub(crate) async fn join(
    coordinator: Arc<Coordinator>,
    shutdown: CancellationToken,
    req: JoinGroupRequest,
    client: Client,
    version: i16,
) -> ResponseKind {
    let rx = match join_prepare(&coordinator, req, &client, version) {
        Ok(rx) => rx,
        Err(r) => return ResponseKind::JoinGroup(*r),
    };
    // On shutdown a waiting join is answered at once, so that its connection ends.
    let r = tokio::select! {
        r = rx => match r {
            Ok(r) => r,
            // The member was removed before the rebalance completed.
            Err(_) => join_error(code::UNKNOWN_MEMBER_ID, StrBytes::default()),
        },
        _ = shutdown.cancelled() => join_error(code::COORDINATOR_NOT_AVAILABLE, StrBytes::default()),
    };
    ResponseKind::JoinGroup(r)
}

fn join_prepare(
    c: &Coordinator,
    req: JoinGroupRequest,
    client: &Client,
    version: i16,
) -> Result<oneshot::Receiver<JoinGroupResponse>, Box<JoinGroupResponse>> {
    let client_id = client.id.as_str();
    let session_timeout = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
    if !(MIN_SESSION_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&session_timeout) {
        return Err(Box::new(join_error(code::INVALID_SESSION_TIMEOUT, req.member_id)));
    }
    let rebalance_timeout = if req.rebalance_timeout_ms > 0 {
        Duration::from_millis(req.rebalance_timeout_ms as u64)
    } else {
        session_timeout
    };
    let protocol_type = req.protocol_type.as_str().to_owned();
    let protocols: Vec<(String, Bytes)> =
        req.protocols.iter().map(|p| (p.name.as_str().to_owned(), p.metadata.clone())).collect();
    if protocols.is_empty() {
        return Err(Box::new(join_error(code::INCONSISTENT_GROUP_PROTOCOL, req.member_id)));
    }
    let mut groups = c.groups.lock();
    let g = groups.entry(req.group_id.as_str().to_owned()).or_default();
    let mut member_id = req.member_id.as_str().to_owned();
    if member_id.is_empty() {
        let n = c.next_member.fetch_add(1, Ordering::Relaxed);
        member_id = format!("{}-{n}", if client_id.is_empty() { "member" } else { client_id });
        // Since JoinGroup v4 the client must come back with the id it is given.
        if version >= 4 {
            g.pending.insert(member_id.clone());
            return Err(Box::new(join_error(code::MEMBER_ID_REQUIRED, kstr(member_id))));
        }
    } else if !g.members.contains_key(&member_id) && !g.pending.remove(&member_id) {
        return Err(Box::new(join_error(code::UNKNOWN_MEMBER_ID, req.member_id)));
    }
    if let Some(t) = &g.protocol_type {
        if !g.members.is_empty() && *t != protocol_type {
            return Err(Box::new(join_error(code::INCONSISTENT_GROUP_PROTOCOL, kstr(member_id))));
        }
    }
    // Every member must share at least one protocol.
    let shared = |name: &str| {
        g.members
            .iter()
            .filter(|(id, _)| **id != member_id)
            .all(|(_, m)| m.protocols.iter().any(|(p, _)| p == name))
    };
    if !protocols.iter().any(|(p, _)| shared(p)) {
        return Err(Box::new(join_error(code::INCONSISTENT_GROUP_PROTOCOL, kstr(member_id))));
    }
    let (tx, rx) = oneshot::channel();
    let previous_assignment = g.members.get(&member_id).map(|m| m.assignment.clone()).unwrap_or_default();
    g.members.insert(
        member_id.clone(),
        Member {
            client: client.clone(),
            session_timeout,
            rebalance_timeout,
            protocol_type: protocol_type.clone(),
            protocols,
            assignment: previous_assignment,
            last_seen: Instant::now(),
            join_waiter: Some(tx),
            sync_waiter: None,
        },
    );
    g.protocol_type = Some(protocol_type);
    if g.state != GroupState::PreparingRebalance {
        prepare_rebalance(g);
    }
    maybe_complete(g, false);
    Ok(rx)
}

/// Starts a rebalance: members learn it from Heartbeat or SyncGroup and rejoin.
fn prepare_rebalance(g: &mut Group) {
    g.state = GroupState::PreparingRebalance;
    let timeout = g.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
    g.deadline = Some(Instant::now() + timeout);
    for m in g.members.values_mut() {
        if let Some(tx) = m.sync_waiter.take() {
            let mut r = SyncGroupResponse::default();
            r.error_code = code::REBALANCE_IN_PROGRESS;
            let _ = tx.send(r);
        }
    }
}

/// Completes the rebalance once every member has rejoined, or (`expired`)
/// drops those that have not.
fn maybe_complete(g: &mut Group, expired: bool) {
    if g.state != GroupState::PreparingRebalance {
        return;
    }
    let all_joined = g.members.values().all(|m| m.join_waiter.is_some());
    if !all_joined && !expired {
        return;
    }
    g.members.retain(|id, m| {
        let keep = m.join_waiter.is_some();
        if !keep {
            tracing::info!(member = %id, "Kafka group member did not rejoin in time; removed");
        }
        keep
    });
    g.generation += 1;
    g.deadline = None;
    if g.members.is_empty() {
        g.state = GroupState::Empty;
        g.leader = None;
        g.protocol = None;
        return;
    }
    // The first protocol (in the leader's preference) that every member supports.
    if g.leader.as_ref().is_none_or(|l| !g.members.contains_key(l)) {
        g.leader = g.members.keys().next().cloned();
    }
    let leader = g.leader.clone().unwrap_or_default();
    let protocol = g.members.get(&leader).and_then(|l| {
        l.protocols
            .iter()
            .map(|(p, _)| p.clone())
            .find(|p| g.members.values().all(|m| m.protocols.iter().any(|(q, _)| q == p)))
    });
    g.protocol = protocol.clone();
    g.state = GroupState::CompletingRebalance;
    let members: Vec<JoinGroupResponseMember> = g
        .members
        .iter()
        .map(|(id, m)| {
            let mut jm = JoinGroupResponseMember::default();
            jm.member_id = kstr(id.as_str());
            jm.metadata = protocol
                .as_ref()
                .and_then(|p| m.protocols.iter().find(|(q, _)| q == p).map(|(_, md)| md.clone()))
                .unwrap_or_default();
            jm
        })
        .collect();
    let generation = g.generation;
    let protocol_type = g.protocol_type.clone();
    for (id, m) in g.members.iter_mut() {
        m.assignment = Bytes::new();
        m.last_seen = Instant::now();
        if let Some(tx) = m.join_waiter.take() {
            let mut r = JoinGroupResponse::default();
            r.generation_id = generation;
            r.protocol_type = protocol_type.as_deref().map(kstr);
            r.protocol_name = protocol.as_deref().map(kstr);
            r.leader = kstr(leader.as_str());
            r.member_id = kstr(id.as_str());
            if *id == leader {
                r.members = members.clone();
            }
            let _ = tx.send(r);
        }
    }
}

/// SyncGroup: the leader hands over the assignment; every member gets its part.
pub(crate) async fn sync(
    coordinator: &Coordinator,
    shutdown: &CancellationToken,
    req: SyncGroupRequest,
) -> ResponseKind {
    let rx = {
        let mut groups = coordinator.groups.lock();
        let mut r = SyncGroupResponse::default();
        let Some(g) = groups.get_mut(req.group_id.as_str()) else {
            r.error_code = code::UNKNOWN_MEMBER_ID;
            return ResponseKind::SyncGroup(r);
        };
        let member_id = req.member_id.as_str().to_owned();
        if !g.members.contains_key(&member_id) {
            r.error_code = code::UNKNOWN_MEMBER_ID;
            return ResponseKind::SyncGroup(r);
        }
        if req.generation_id != g.generation {
            r.error_code = code::ILLEGAL_GENERATION;
            return ResponseKind::SyncGroup(r);
        }
        r.protocol_type = g.protocol_type.as_deref().map(kstr);
        r.protocol_name = g.protocol.as_deref().map(kstr);
        match g.state {
            GroupState::PreparingRebalance | GroupState::Empty => {
                r.error_code = code::REBALANCE_IN_PROGRESS;
                return ResponseKind::SyncGroup(r);
            }
            GroupState::Stable => {
                if let Some(m) = g.members.get_mut(&member_id) {
                    m.last_seen = Instant::now();
                    r.assignment = m.assignment.clone();
                }
                return ResponseKind::SyncGroup(r);
            }
            GroupState::CompletingRebalance => {}
        }
        if g.leader.as_deref() == Some(member_id.as_str()) {
            let given: HashMap<&str, &Bytes> =
                req.assignments.iter().map(|a| (a.member_id.as_str(), &a.assignment)).collect();
            for (id, m) in g.members.iter_mut() {
                m.assignment = given.get(id.as_str()).map(|b| (*b).clone()).unwrap_or_default();
                m.last_seen = Instant::now();
                if let Some(tx) = m.sync_waiter.take() {
                    let mut fr = r.clone();
                    fr.assignment = m.assignment.clone();
                    let _ = tx.send(fr);
                }
            }
            g.state = GroupState::Stable;
            r.assignment = g.members.get(&member_id).map(|m| m.assignment.clone()).unwrap_or_default();
            return ResponseKind::SyncGroup(r);
        }
        let (tx, rx) = oneshot::channel();
        if let Some(m) = g.members.get_mut(&member_id) {
            m.last_seen = Instant::now();
            m.sync_waiter = Some(tx);
        }
        rx
    };
    let error = |error_code| {
        let mut r = SyncGroupResponse::default();
        r.error_code = error_code;
        r
    };
    // On shutdown a waiting sync is answered at once, so that its connection ends.
    let r = tokio::select! {
        r = rx => r.unwrap_or_else(|_| error(code::REBALANCE_IN_PROGRESS)),
        _ = shutdown.cancelled() => error(code::COORDINATOR_NOT_AVAILABLE),
    };
    ResponseKind::SyncGroup(r)
}

/// Heartbeat: keeps the member alive; REBALANCE_IN_PROGRESS tells it to rejoin.
pub(crate) fn heartbeat(coordinator: &Coordinator, req: HeartbeatRequest) -> ResponseKind {
    let mut r = HeartbeatResponse::default();
    let mut groups = coordinator.groups.lock();
    let member = groups.get_mut(req.group_id.as_str()).and_then(|g| {
        let (state, generation) = (g.state, g.generation);
        g.members.get_mut(req.member_id.as_str()).map(|m| (m, state, generation))
    });
    r.error_code = match member {
        None => code::UNKNOWN_MEMBER_ID,
        Some((m, state, generation)) => {
            m.last_seen = Instant::now();
            if state == GroupState::PreparingRebalance {
                code::REBALANCE_IN_PROGRESS
            } else if req.generation_id != generation {
                code::ILLEGAL_GENERATION
            } else {
                code::NONE
            }
        }
    };
    ResponseKind::Heartbeat(r)
}

/// LeaveGroup: one member (v0–v2) or several (v3+) leave; the rest rebalance.
pub(crate) fn leave(coordinator: &Coordinator, req: LeaveGroupRequest, version: i16) -> ResponseKind {
    let mut r = LeaveGroupResponse::default();
    let ids: Vec<StrBytes> = if version >= 3 {
        req.members.iter().map(|m| m.member_id.clone()).collect()
    } else {
        vec![req.member_id.clone()]
    };
    let mut groups = coordinator.groups.lock();
    let Some(g) = groups.get_mut(req.group_id.as_str()) else {
        r.error_code = code::UNKNOWN_MEMBER_ID;
        return ResponseKind::LeaveGroup(r);
    };
    let mut any = false;
    let mut unknown = false;
    for id in ids {
        let removed = g.members.remove(id.as_str());
        if let Some(m) = &removed {
            tracing::info!(group = %req.group_id.as_str(), member = %id.as_str(), protocol_type = %m.protocol_type, "Kafka group member left");
        }
        any |= removed.is_some();
        unknown |= removed.is_none();
        let mut mr = MemberResponse::default();
        mr.member_id = id;
        mr.error_code = if removed.is_some() { code::NONE } else { code::UNKNOWN_MEMBER_ID };
        // Per-member answers exist from v3; older versions carry the top-level code only.
        if version >= 3 {
            r.members.push(mr);
        }
    }
    if version < 3 && unknown {
        r.error_code = code::UNKNOWN_MEMBER_ID;
    }
    if any {
        member_removed(g);
    }
    ResponseKind::LeaveGroup(r)
}

/// After a member is gone: the others rebalance (or the group empties).
fn member_removed(g: &mut Group) {
    if g.members.is_empty() {
        g.state = GroupState::Empty;
        g.generation += 1;
        g.leader = None;
        g.protocol = None;
        g.deadline = None;
        return;
    }
    if g.state != GroupState::PreparingRebalance {
        prepare_rebalance(g);
    }
    maybe_complete(g, false);
}

/// Removes members whose session expired and completes rebalances whose
/// deadline passed, until shutdown.
pub(crate) async fn reap_task(c: Arc<Coordinator>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(REAP_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let mut groups = c.groups.lock();
        for (name, g) in groups.iter_mut() {
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|(_, m)| {
                    m.join_waiter.is_none() && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                tracing::info!(group = %name, member = %id, "Kafka group member's session expired");
                g.members.remove(id);
            }
            if !expired.is_empty() {
                member_removed(g);
            }
            if g.deadline.is_some_and(|d| now >= d) {
                maybe_complete(g, true);
            }
        }
    }
}
