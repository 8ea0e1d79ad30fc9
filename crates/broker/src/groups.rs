//! Consumer groups: membership, sticky partition assignment, liveness,
//! generation-fenced commits and committed offsets.
//!
//! A group is keyed by (group, topic), the topic by its resolved short name
//! ([`Topic::meta`]`.name`), not by how the member spelled it: members that join `orders`
//! and `public/default/orders` are one group on one topic, and share its committed offsets
//! (which `meta.redb` keys the same way). Each member holds a `Join` stream; the
//! member's latest assignment sits in a `watch` channel that the stream reads,
//! so a slow member only ever sees the newest assignment. A member leaves when
//! it calls `Leave`, when its Join stream closes (the watch loses its receiver),
//! or when it misses heartbeats for its session timeout (a reaper task). Every
//! change bumps the generation and rebalances: members keep the partitions they
//! own up to their fair share; only the surplus moves.
//!
//! Committed offsets live in `meta.redb`; a commit from a member of an older
//! generation is accepted only for partitions it still owns. The Kafka listener's groups
//! (its own coordinator) store and read their offsets through this service too
//! ([`Groups::store_offsets`], [`Groups::committed`]), so both kinds share them, and the
//! Kafka admin APIs list, describe and delete groups through [`Groups::live_members`],
//! [`Groups::groups_with_offsets`] and [`Groups::delete_offsets`], which refuse to drop the
//! offsets of a group that still has live members here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use runnel_proto::v1::{
    Assignment, CommitRequest, FetchCommittedRequest, FetchCommittedResponse, GroupInfo, GroupMember,
    JoinRequest, PartitionOffset,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::BrokerError;
use crate::meta::Meta;
use crate::topics::{Topic, Topics};

const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_SESSION_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Member {
    client_id: String,
    session_timeout: Duration,
    last_seen: Instant,
    partitions: Vec<u32>,
    /// The member's Join stream reads its assignment from here.
    tx: watch::Sender<Option<Assignment>>,
    /// Distinguishes a re-join under the same id from the stream it replaced.
    join_id: u64,
}

#[derive(Debug, Default)]
struct Group {
    generation: u64,
    members: BTreeMap<String, Member>,
}

/// The group coordinator.
#[derive(Debug)]
pub struct Groups {
    groups: Mutex<HashMap<(String, String), Group>>,
    next_id: AtomicU64,
    /// The topics groups consume (their partition counts).
    topics: Arc<Topics>,
    /// Where committed offsets are stored.
    meta: Arc<Meta>,
    /// Members' Join streams end when it is cancelled.
    shutdown: CancellationToken,
}

/// Spreads `partitions` over `members` (sorted ids): each member keeps what it
/// owns up to its quota (⌈n/m⌉ for the members that already own the most,
/// ⌊n/m⌋ for the rest); the rest go to the members with the fewest.
pub fn sticky_assign(partitions: u32, members: &[(String, Vec<u32>)]) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> =
        members.iter().map(|(id, _)| (id.clone(), Vec::new())).collect();
    if members.is_empty() {
        return out;
    }
    let m = members.len() as u32;
    let (base, extra) = (partitions / m, partitions % m);
    // The members owning the most (valid) partitions get the larger quotas.
    let mut order: Vec<usize> = (0..members.len()).collect();
    let owned = |i: usize| members[i].1.iter().filter(|&&p| p < partitions).count();
    order.sort_by(|&a, &b| owned(b).cmp(&owned(a)).then(members[a].0.cmp(&members[b].0)));
    let mut quota: HashMap<&str, u32> = HashMap::new();
    for (rank, &i) in order.iter().enumerate() {
        quota.insert(&members[i].0, base + u32::from((rank as u32) < extra));
    }
    let mut taken = vec![false; partitions as usize];
    for (id, owned) in members {
        let q = quota[id.as_str()] as usize;
        let list = out.entry(id.clone()).or_default();
        for &p in owned {
            if p < partitions && !taken[p as usize] && list.len() < q {
                taken[p as usize] = true;
                list.push(p);
            }
        }
    }
    for p in 0..partitions {
        if taken[p as usize] {
            continue;
        }
        let target = members
            .iter()
            .map(|(id, _)| id)
            .filter(|id| out[*id].len() < quota[id.as_str()] as usize)
            .min_by_key(|id| out[*id].len());
        if let Some(id) = target {
            if let Some(list) = out.get_mut(id) {
                list.push(p);
            }
        }
    }
    for list in out.values_mut() {
        list.sort_unstable();
    }
    out
}

impl Groups {
    /// Bumps the generation and sends every member its new assignment.
    fn rebalance(group: &mut Group, partitions: u32) {
        group.generation += 1;
        let current: Vec<(String, Vec<u32>)> =
            group.members.iter().map(|(id, m)| (id.clone(), m.partitions.clone())).collect();
        let assignment = sticky_assign(partitions, &current);
        for (id, m) in group.members.iter_mut() {
            m.partitions = assignment.get(id).cloned().unwrap_or_default();
            let hb = (m.session_timeout.as_millis() / 3).max(1) as u32;
            m.tx.send_replace(Some(Assignment {
                member_id: id.clone(),
                generation: group.generation,
                partitions: m.partitions.clone(),
                heartbeat_interval_ms: hb,
            }));
        }
        tracing::info!(generation = group.generation, members = group.members.len(), "group rebalanced");
    }

    /// The coordinator of groups over `topics`, storing offsets in `meta`; members' streams
    /// end on `shutdown`.
    pub fn new(topics: Arc<Topics>, meta: Arc<Meta>, shutdown: CancellationToken) -> Groups {
        Groups { groups: Mutex::default(), next_id: AtomicU64::new(0), topics, meta, shutdown }
    }

    /// Joins a group; returns the member id and the watch its Join stream reads.
    pub fn join(
        self: &Arc<Self>,
        req: &JoinRequest,
    ) -> Result<(String, watch::Receiver<Option<Assignment>>), BrokerError> {
        if req.group.is_empty() {
            return Err(BrokerError::InvalidArgument("group name is empty".into()));
        }
        let topic = self.topics.get(&req.topic)?;
        let topic_key = topic.meta.name.clone();
        let partitions = topic.partitions.len() as u32;
        let join_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let member_id = if req.member_id.is_empty() {
            format!("{}-{join_id}", sanitize(&req.client_id))
        } else {
            req.member_id.clone()
        };
        let session_timeout = if req.session_timeout_ms == 0 {
            DEFAULT_SESSION_TIMEOUT
        } else {
            Duration::from_millis(req.session_timeout_ms.into())
                .clamp(MIN_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT)
        };
        let (tx, rx) = watch::channel(None);
        let mut groups = self.groups.lock();
        let group = groups.entry((req.group.clone(), topic_key.clone())).or_default();
        // A re-join under the same id keeps its partitions (sticky), replacing its stream.
        let previous = group.members.remove(&member_id).map(|m| m.partitions).unwrap_or_default();
        group.members.insert(
            member_id.clone(),
            Member {
                client_id: req.client_id.clone(),
                session_timeout,
                last_seen: Instant::now(),
                partitions: previous,
                tx: tx.clone(),
                join_id,
            },
        );
        Groups::rebalance(group, partitions);
        drop(groups);
        // The member is gone when its Join stream (the only receiver) is dropped.
        let groups = Arc::clone(self);
        let (group_name, topic_name, id) = (req.group.clone(), topic_key, member_id.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = tx.closed() => {}
                _ = groups.shutdown.cancelled() => return,
            }
            groups.remove_member(&group_name, &topic_name, &id, Some(join_id), "join stream closed");
        });
        Ok((member_id, rx))
    }

    /// Removes a member (if `join_id` matches, when given) and rebalances.
    fn remove_member(&self, group: &str, topic: &str, member: &str, join_id: Option<u64>, why: &str) -> bool {
        let partitions = self.topics.get(topic).map(|t| t.partitions.len() as u32).unwrap_or(0);
        let mut groups = self.groups.lock();
        let key = (group.to_owned(), topic.to_owned());
        let Some(g) = groups.get_mut(&key) else { return false };
        match g.members.get(member) {
            Some(m) if join_id.is_none_or(|j| j == m.join_id) => {}
            _ => return false,
        }
        g.members.remove(member);
        tracing::info!(group, topic, member, why, "member left");
        Groups::rebalance(g, partitions);
        true
    }

    /// Records a heartbeat; returns whether a rebalance happened since `generation`.
    pub fn heartbeat(&self, group: &str, member: &str, generation: u64) -> Result<bool, BrokerError> {
        let mut groups = self.groups.lock();
        for ((g, _), state) in groups.iter_mut() {
            if g != group {
                continue;
            }
            if let Some(m) = state.members.get_mut(member) {
                m.last_seen = Instant::now();
                return Ok(state.generation != generation);
            }
        }
        Err(BrokerError::UnknownMember(format!("member '{member}' is not in group '{group}'; join again")))
    }

    /// The topics for which group `group` holds `member` (to authorize its heartbeats and leaves).
    pub fn topics_of_member(&self, group: &str, member: &str) -> Vec<String> {
        let groups = self.groups.lock();
        groups
            .iter()
            .filter(|((g, _), s)| g == group && s.members.contains_key(member))
            .map(|((_, t), _)| t.clone())
            .collect()
    }

    /// Leaves a group.
    pub fn leave(&self, group: &str, member: &str) -> Result<(), BrokerError> {
        let topics = self.topics_of_member(group, member);
        if topics.is_empty() {
            return Err(BrokerError::UnknownMember(format!("member '{member}' is not in group '{group}'")));
        }
        for t in topics {
            self.remove_member(group, &t, member, None, "left");
        }
        Ok(())
    }

    /// Removes members silent for longer than their session timeout.
    pub fn reap_expired(&self) {
        let expired: Vec<(String, String, String)> = {
            let groups = self.groups.lock();
            groups
                .iter()
                .flat_map(|((g, t), s)| {
                    s.members
                        .iter()
                        .filter(|(_, m)| m.last_seen.elapsed() > m.session_timeout)
                        .map(move |(id, _)| (g.clone(), t.clone(), id.clone()))
                })
                .collect()
        };
        for (g, t, id) in expired {
            self.remove_member(&g, &t, &id, None, "session timed out");
        }
    }

    /// Commits offsets, fenced by generation and ownership.
    pub async fn commit(&self, req: &CommitRequest) -> Result<(), BrokerError> {
        let topic = self.topics.get(&req.topic)?;
        for o in &req.offsets {
            topic.partition(o.partition)?;
            if o.offset < 0 {
                return Err(BrokerError::InvalidArgument(format!(
                    "offset {} for partition {} is negative",
                    o.offset, o.partition
                )));
            }
        }
        {
            let groups = self.groups.lock();
            let state = groups.get(&(req.group.clone(), topic.meta.name.clone()));
            let live = state.is_some_and(|s| !s.members.is_empty());
            if req.member_id.is_empty() {
                if live {
                    return Err(BrokerError::Fenced(format!(
                        "group '{}' has live members; commit as a member (member_id and generation)",
                        req.group
                    )));
                }
            } else {
                let state = state.ok_or_else(|| {
                    BrokerError::UnknownMember(format!("group '{}' has no members", req.group))
                })?;
                let member = state.members.get(&req.member_id).ok_or_else(|| {
                    BrokerError::UnknownMember(format!(
                        "member '{}' is not in group '{}'",
                        req.member_id, req.group
                    ))
                })?;
                for o in &req.offsets {
                    if !member.partitions.contains(&o.partition) {
                        return Err(BrokerError::Fenced(format!(
                            "member '{}' (generation {}, current {}) does not own partition {}",
                            req.member_id, req.generation, state.generation, o.partition
                        )));
                    }
                }
            }
        }
        let offsets: Vec<(u32, i64)> = req.offsets.iter().map(|o| (o.partition, o.offset)).collect();
        self.meta.commit_offsets(&req.group, &topic.meta.name, &offsets)
    }

    /// Stores committed offsets of a group on a topic, unfenced (the Kafka listener's groups,
    /// which fence commits themselves).
    pub fn store_offsets(&self, group: &str, topic: &str, offsets: &[(u32, i64)]) -> Result<(), BrokerError> {
        self.meta.commit_offsets(group, topic, offsets)
    }

    /// Committed offsets of a group on a topic, by partition.
    pub fn committed(&self, group: &str, topic: &str) -> Result<Vec<(u32, i64)>, BrokerError> {
        self.meta.committed(group, topic)
    }

    /// Committed offsets of a group on a topic.
    pub fn fetch_committed(
        &self,
        req: &FetchCommittedRequest,
    ) -> Result<FetchCommittedResponse, BrokerError> {
        let committed = self.meta.committed(&req.group, &req.topic)?;
        let offsets = committed
            .into_iter()
            .filter(|(p, _)| req.partitions.is_empty() || req.partitions.contains(p))
            .map(|(partition, offset)| PartitionOffset { partition, offset, timestamp_ms: 0 })
            .collect();
        Ok(FetchCommittedResponse { offsets })
    }

    /// The group's generation, members, assignments and committed offsets.
    pub fn describe(&self, group: &str, topic: &str) -> Result<GroupInfo, BrokerError> {
        let committed = self.meta.committed(group, topic)?;
        let key = resolved(&self.topics, topic);
        let groups = self.groups.lock();
        let state = groups.get(&(group.to_owned(), key));
        Ok(GroupInfo {
            group: group.to_owned(),
            topic: topic.to_owned(),
            generation: state.map_or(0, |s| s.generation),
            members: state
                .map(|s| {
                    s.members
                        .iter()
                        .map(|(id, m)| GroupMember {
                            member_id: id.clone(),
                            client_id: m.client_id.clone(),
                            partitions: m.partitions.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            committed: committed
                .into_iter()
                .map(|(partition, offset)| PartitionOffset { partition, offset, timestamp_ms: 0 })
                .collect(),
        })
    }
}

/// Who is live in a group on one topic ([`Groups::live_members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMember {
    /// The topic's short name.
    pub topic: String,
    /// The member id.
    pub member_id: String,
    /// The client id it joined with.
    pub client_id: String,
    /// The partitions it owns.
    pub partitions: Vec<u32>,
}

impl Groups {
    /// The live members of `group` over all its topics, by topic then member id.
    pub fn live_members(&self, group: &str) -> Vec<LiveMember> {
        let groups = self.groups.lock();
        let mut out: Vec<LiveMember> = groups
            .iter()
            .filter(|((g, _), _)| g == group)
            .flat_map(|((_, t), s)| {
                s.members.iter().map(move |(id, m)| LiveMember {
                    topic: t.clone(),
                    member_id: id.clone(),
                    client_id: m.client_id.clone(),
                    partitions: m.partitions.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, &a.member_id).cmp(&(&b.topic, &b.member_id)));
        out
    }

    /// Rebalances every group on `topic` after its partitions grew, so that the new
    /// partitions are assigned at once rather than at the next join or leave. Returns how
    /// many groups were rebalanced.
    pub fn partitions_changed(&self, topic: &str) -> usize {
        let Ok(t) = self.topics.get(topic) else { return 0 };
        let partitions = t.partitions.len() as u32;
        let mut groups = self.groups.lock();
        let mut n = 0;
        for ((_, key), g) in groups.iter_mut() {
            if *key == t.meta.name && !g.members.is_empty() {
                Groups::rebalance(g, partitions);
                n += 1;
            }
        }
        n
    }

    /// The names of the groups with live members, sorted.
    pub fn live_groups(&self) -> Vec<String> {
        let groups = self.groups.lock();
        let mut out: Vec<String> =
            groups.iter().filter(|(_, s)| !s.members.is_empty()).map(|((g, _), _)| g.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The groups holding committed offsets, sorted.
    pub fn groups_with_offsets(&self) -> Result<Vec<String>, BrokerError> {
        self.meta.groups_with_offsets()
    }

    /// The topics (short names) on which `group` holds committed offsets.
    pub fn topics_with_offsets(&self, group: &str) -> Result<Vec<String>, BrokerError> {
        self.meta.topics_with_offsets(group)
    }

    /// Deletes committed offsets of `group`: all of them (`topic` `None`), those on a topic,
    /// or those of some of its partitions. Refused with `FailedPrecondition` while the group
    /// has a live member (on that topic, when one is given): a live member would commit
    /// them again, and Kafka refuses the same (NON_EMPTY_GROUP, GROUP_SUBSCRIBED_TO_TOPIC).
    /// The check and the deletion happen under the groups' lock, so no member joins between
    /// them. Blocking. Returns how many offsets were removed.
    pub fn delete_offsets(
        &self,
        group: &str,
        topic: Option<&str>,
        partitions: Option<&[u32]>,
    ) -> Result<usize, BrokerError> {
        let key = topic.map(|t| resolved(&self.topics, t));
        let groups = self.groups.lock();
        let live = groups
            .iter()
            .find(|((g, t), s)| g == group && !s.members.is_empty() && key.as_ref().is_none_or(|k| k == t));
        if let Some(((_, t), s)) = live {
            return Err(BrokerError::FailedPrecondition(format!(
                "group '{group}' has {} live member(s) on topic '{t}'",
                s.members.len()
            )));
        }
        self.meta.delete_offsets(group, key.as_deref(), partitions)
    }
}

/// The key a topic's groups and offsets are stored under: its short name when it exists,
/// the spelling otherwise (a topic that does not exist has no members to find).
fn resolved(topics: &Topics, topic: &str) -> String {
    topics.get(topic).map(|t: Arc<Topic>| t.meta.name.clone()).unwrap_or_else(|_| topic.to_owned())
}

fn sanitize(client_id: &str) -> String {
    let s: String = client_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if s.is_empty() {
        "member".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, owned: &[u32]) -> (String, Vec<u32>) {
        (id.to_owned(), owned.to_vec())
    }

    #[test]
    fn spreads_six_partitions_over_three_members_evenly() {
        let a = sticky_assign(6, &[m("a", &[]), m("b", &[]), m("c", &[])]);
        assert!(a.values().all(|p| p.len() == 2));
        let mut all: Vec<u32> = a.values().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn keeps_existing_owners_when_a_member_joins() {
        let a = sticky_assign(6, &[m("a", &[0, 1, 2]), m("b", &[3, 4, 5]), m("c", &[])]);
        assert_eq!(a["c"].len(), 2);
        assert!(a["a"].iter().all(|p| [0, 1, 2].contains(p)));
        assert!(a["b"].iter().all(|p| [3, 4, 5].contains(p)));
    }

    #[test]
    fn survivors_keep_theirs_and_take_the_dead_members_partitions() {
        let a = sticky_assign(6, &[m("a", &[0, 1]), m("c", &[4, 5])]);
        assert_eq!(a["a"].len() + a["c"].len(), 6);
        assert!(a["a"].contains(&0) && a["a"].contains(&1));
        assert!(a["c"].contains(&4) && a["c"].contains(&5));
    }
}
