//! Geo-replication between Runnel clusters (`docs/replication.md`): the clusters this
//! one knows (`runnel cluster add`), the namespaces replicated and to which clusters
//! (`runnel namespace replication`), all in `meta.redb` (`store.rs`); and the
//! replicator itself: one task per (topic, remote cluster) that sends this cluster's
//! own records to the remote exactly once, with their schemas (`link.rs`), over the
//! remote's gRPC services (`remote.rs`).
//!
//! The service owns its tables and tasks. It reads local logs through `Topics`, schemas
//! through the registry and knows no front end: remotes are reached as any client
//! would reach them. A reconciling task starts a link for every topic of a replicated
//! namespace and every other cluster of its list, and stops links whose namespace is
//! no longer replicated or whose cluster was removed.

mod link;
mod remote;
mod store;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use runnel_auth::names::{NamespaceName, TopicName};
use runnel_registry::Registry;
use tokio_util::sync::CancellationToken;

pub use link::HEADER_ORIGIN;
pub use store::ClusterRecord;

use crate::error::BrokerError;
use crate::meta::Meta;
use crate::tenants::Tenants;
use crate::topics::Topics;
use link::{Ctx, LinkStats};
use remote::Remote;

/// The cluster name `runnel serve` takes without `--cluster`.
pub const DEFAULT_CLUSTER: &str = "standalone";
/// How often the reconciling task looks again without being told of a change (a topic
/// created or deleted, a setting changed: it is told of those).
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// One link's status.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkStatus {
    pub topic: String,
    pub remote: String,
    /// `running`, `paused` (refused: something must be fixed) or `retrying` (the remote
    /// could not be reached).
    pub state: String,
    pub lag_records: i64,
    pub lag_seconds: f64,
    pub replicated: u64,
    pub records_per_sec: f64,
    pub last_error: Option<String>,
}

struct Running {
    /// The cluster's settings the link runs with: a change (a new token, say) restarts it.
    cluster: ClusterRecord,
    stats: Arc<LinkStats>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// The replication service.
pub struct Replication {
    ctx: Ctx,
    tenants: Arc<Tenants>,
    links: Mutex<HashMap<(String, String), Running>>,
    /// Serializes changes of clusters and settings.
    admin: tokio::sync::Mutex<()>,
    /// Wakes the reconciling task after a change.
    changed: tokio::sync::Notify,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication").field("local", &self.ctx.local).finish_non_exhaustive()
    }
}

fn check_cluster_name(name: &str) -> Result<(), BrokerError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BrokerError::InvalidArgument(format!(
            "cluster name '{name}' must be 1 to 64 of the characters a-z A-Z 0-9 _ -"
        )))
    }
}

impl Replication {
    /// The service for the cluster named `local`; nothing runs until [`Replication::start`].
    pub fn new(
        local: &str,
        meta: Arc<Meta>,
        topics: Arc<Topics>,
        tenants: Arc<Tenants>,
        registry: Registry,
        shutdown: CancellationToken,
    ) -> Result<Replication, BrokerError> {
        check_cluster_name(local)?;
        store::init(meta.db())?;
        Ok(Replication {
            ctx: Ctx { meta, topics, registry, local: local.to_owned() },
            tenants,
            links: Mutex::new(HashMap::new()),
            admin: tokio::sync::Mutex::new(()),
            changed: tokio::sync::Notify::new(),
            shutdown,
        })
    }

    /// This cluster's name.
    pub fn local(&self) -> &str {
        &self.ctx.local
    }

    /// Starts the reconciling task (which starts the links).
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let mut topics_changed = self.ctx.topics.watch_changes();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.reconcile() {
                    tracing::warn!(error = %e, "replication: cannot read the settings");
                }
                tokio::select! {
                    _ = this.shutdown.cancelled() => break,
                    _ = this.changed.notified() => {}
                    // A new topic starts its links at once (its first records go out
                    // right away), not at the next look.
                    _ = topics_changed.changed() => {}
                    _ = tokio::time::sleep(RECONCILE_EVERY) => {}
                }
            }
            this.stop().await;
        })
    }

    /// Starts and stops links to match the settings and the topics there are.
    fn reconcile(&self) -> Result<(), BrokerError> {
        let db = self.ctx.meta.db();
        let clusters: HashMap<String, ClusterRecord> =
            store::clusters(db)?.into_iter().map(|c| (c.name.clone(), c)).collect();
        let namespaces: HashMap<String, Vec<String>> = store::namespaces(db)?.into_iter().collect();
        let overrides: HashMap<String, Vec<String>> = store::topics(db)?.into_iter().collect();
        let mut wanted: HashMap<(String, String), &ClusterRecord> = HashMap::new();
        for t in self.ctx.topics.list() {
            let Ok(name) = TopicName::parse(&t.meta.name) else { continue };
            let list = match overrides.get(&t.meta.name) {
                Some(list) => list,
                None => {
                    let ns = format!("{}/{}", name.tenant(), name.namespace());
                    let Some(list) = namespaces.get(&ns) else { continue };
                    list
                }
            };
            if !list.iter().any(|c| c == &self.ctx.local) {
                continue;
            }
            for c in list.iter().filter(|c| **c != self.ctx.local) {
                if let Some(rec) = clusters.get(c) {
                    wanted.insert((t.meta.name.clone(), c.clone()), rec);
                }
            }
        }
        let mut links = self.links.lock();
        links.retain(|key, running| {
            let keep =
                wanted.get(key).is_some_and(|rec| **rec == running.cluster) && !running.task.is_finished();
            if !keep {
                running.stop.cancel();
            }
            keep
        });
        for (key, rec) in wanted {
            if links.contains_key(&key) {
                continue;
            }
            let remote = match Remote::new(rec) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(cluster = %rec.name, error = %e, "replication: bad cluster settings");
                    continue;
                }
            };
            let stats = Arc::new(LinkStats::default());
            let stop = self.shutdown.child_token();
            tracing::info!(topic = %key.0, remote = %key.1, "replication link started");
            let task = tokio::spawn(link::run(
                key.0.clone(),
                remote,
                self.ctx.clone(),
                Arc::clone(&stats),
                stop.clone(),
            ));
            links.insert(key, Running { cluster: rec.clone(), stats, stop, task });
        }
        Ok(())
    }

    /// Stops every link and waits for them.
    pub async fn stop(&self) {
        let all: Vec<Running> = self.links.lock().drain().map(|(_, r)| r).collect();
        for r in &all {
            r.stop.cancel();
        }
        for r in all {
            let _ = r.task.await;
        }
    }

    /// Adds a remote cluster after asking it its name: it must answer `cluster.name`
    /// (which also refuses this cluster's own address, and an unreachable one).
    pub async fn add_cluster(&self, cluster: ClusterRecord) -> Result<ClusterRecord, BrokerError> {
        check_cluster_name(&cluster.name)?;
        if cluster.name == self.ctx.local {
            return Err(BrokerError::AlreadyExists(format!(
                "'{}' is this cluster's own name: a remote needs another",
                cluster.name
            )));
        }
        let _admin = self.admin.lock().await;
        let existing = store::clusters(self.ctx.meta.db())?;
        if let Some(c) = existing.iter().find(|c| c.name == cluster.name) {
            if c.url != cluster.url {
                return Err(BrokerError::AlreadyExists(format!(
                    "cluster '{}' is already known at {}; remove it first",
                    c.name, c.url
                )));
            }
        }
        if let Some(c) = existing.iter().find(|c| c.url == cluster.url && c.name != cluster.name) {
            return Err(BrokerError::AlreadyExists(format!(
                "{} is already known as cluster '{}'",
                c.url, c.name
            )));
        }
        let remote = Remote::new(&cluster)?;
        let answer = remote
            .replication()
            .local_cluster(runnel_proto::v1::LocalClusterRequest {})
            .await
            .map_err(|s| {
                BrokerError::FailedPrecondition(remote::describe(
                    &cluster.name,
                    &format!("asking {} its name", cluster.url),
                    &s,
                ))
            })?
            .into_inner();
        if answer.name == self.ctx.local {
            return Err(BrokerError::InvalidArgument(format!(
                "{} is this cluster ('{}'): replicating to itself would loop",
                cluster.url, answer.name
            )));
        }
        if answer.name != cluster.name {
            return Err(BrokerError::InvalidArgument(format!(
                "the cluster at {} calls itself '{}', not '{}'",
                cluster.url, answer.name, cluster.name
            )));
        }
        store::put_cluster(self.ctx.meta.db(), &cluster)?;
        tracing::info!(cluster = %cluster.name, url = %cluster.url, "cluster added");
        self.changed.notify_one();
        Ok(cluster)
    }

    /// The known clusters (tokens and certificates included: the front end leaves them out).
    pub fn clusters(&self) -> Result<Vec<ClusterRecord>, BrokerError> {
        store::clusters(self.ctx.meta.db())
    }

    /// Removes a cluster no namespace replicates to.
    pub async fn remove_cluster(&self, name: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        let db = self.ctx.meta.db();
        if let Some((ns, _)) = store::namespaces(db)?.into_iter().find(|(_, cs)| cs.iter().any(|c| c == name))
        {
            return Err(BrokerError::FailedPrecondition(format!(
                "namespace '{ns}' replicates to cluster '{name}': change its replication first"
            )));
        }
        if let Some((topic, _)) = store::topics(db)?.into_iter().find(|(_, cs)| cs.iter().any(|c| c == name))
        {
            return Err(BrokerError::FailedPrecondition(format!(
                "topic '{topic}' replicates to cluster '{name}': change its replication first"
            )));
        }
        if !store::remove_cluster(db, name)? {
            return Err(BrokerError::NotFound(format!("no cluster '{name}'")));
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Sets the clusters a namespace is replicated between (this one among them; each
    /// other a known cluster); an empty list turns replication off.
    pub async fn set_namespace(
        &self,
        namespace: &str,
        clusters: &[String],
    ) -> Result<Vec<String>, BrokerError> {
        let name =
            NamespaceName::parse(namespace).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        if self.tenants.namespace(&name).is_none() {
            return Err(BrokerError::NotFound(format!("no namespace '{name}'")));
        }
        let _admin = self.admin.lock().await;
        let list = self.check_clusters(clusters)?;
        store::put_namespace(self.ctx.meta.db(), &name.to_string(), &list)?;
        tracing::info!(namespace = %name, clusters = ?list, "namespace replication set");
        self.changed.notify_one();
        Ok(list)
    }

    /// A list of clusters to replicate between, checked: no name twice, and unless it is
    /// empty, this cluster and otherwise only known ones. Blank names are left out.
    fn check_clusters(&self, clusters: &[String]) -> Result<Vec<String>, BrokerError> {
        let mut list: Vec<String> = Vec::new();
        for c in clusters {
            let c = c.trim();
            if c.is_empty() {
                continue;
            }
            if list.iter().any(|x| x == c) {
                return Err(BrokerError::InvalidArgument(format!("cluster '{c}' is listed twice")));
            }
            list.push(c.to_owned());
        }
        if !list.is_empty() {
            if !list.iter().any(|c| c == &self.ctx.local) {
                return Err(BrokerError::InvalidArgument(format!(
                    "the clusters must include this one ('{}')",
                    self.ctx.local
                )));
            }
            let known = store::clusters(self.ctx.meta.db())?;
            for c in list.iter().filter(|c| **c != self.ctx.local) {
                if !known.iter().any(|k| &k.name == c) {
                    return Err(BrokerError::NotFound(format!(
                        "unknown cluster '{c}': add it with `runnel cluster add {c} --url URL --registry-url URL`"
                    )));
                }
            }
        }
        Ok(list)
    }

    /// Sets the clusters a topic is replicated between, overriding its namespace's:
    /// `Some(list)` (empty: not replicated at all) or `None` (the namespace's setting
    /// applies again). The topic need not exist yet, so that it can be kept out of (or
    /// put into) replication before its first record; its namespace must.
    pub async fn set_topic(
        &self,
        topic: &str,
        clusters: Option<&[String]>,
    ) -> Result<Option<Vec<String>>, BrokerError> {
        let name = TopicName::parse(topic).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        let ns = name.namespace_name();
        if self.tenants.namespace(&ns).is_none() {
            return Err(BrokerError::NotFound(format!("no namespace '{ns}' for topic '{name}'")));
        }
        let _admin = self.admin.lock().await;
        let list = clusters.map(|c| self.check_clusters(c)).transpose()?;
        // Keyed as the topics are (bare in `public/default`).
        store::put_topic(self.ctx.meta.db(), &name.short(), list.as_deref())?;
        tracing::info!(topic = %name, clusters = ?list, "topic replication set (None: the namespace's)");
        self.changed.notify_one();
        Ok(list)
    }

    /// Every topic overriding its namespace's clusters, with its own.
    pub fn topic_overrides(&self) -> Result<Vec<(String, Vec<String>)>, BrokerError> {
        store::topics(self.ctx.meta.db())
    }

    /// Every replicated namespace and its clusters.
    pub fn namespaces(&self) -> Result<Vec<(String, Vec<String>)>, BrokerError> {
        store::namespaces(self.ctx.meta.db())
    }

    /// Every link's status, sorted by topic and remote.
    pub fn status(&self) -> Vec<LinkStatus> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let links = self.links.lock();
        let mut out: Vec<LinkStatus> = links
            .iter()
            .map(|((topic, remote), r)| {
                let s = &r.stats;
                let lag_records = match self.ctx.topics.get(topic) {
                    Ok(t) => {
                        let positions = s.positions.lock();
                        t.partitions
                            .iter()
                            .enumerate()
                            .map(|(p, log)| {
                                let at = positions.get(p).map_or(0, |a| a.load(Relaxed));
                                (log.last_stable_offset() - at.max(log.stats().log_start_offset)).max(0)
                            })
                            .sum()
                    }
                    Err(_) => 0,
                };
                let oldest =
                    s.oldest_unsent_ms.lock().iter().map(|a| a.load(Relaxed)).filter(|t| *t > 0).min();
                let lag_seconds = match oldest {
                    Some(t) if lag_records > 0 => ((now_ms - t).max(0) as f64) / 1000.0,
                    _ => 0.0,
                };
                LinkStatus {
                    topic: topic.clone(),
                    remote: remote.clone(),
                    state: (*s.state.lock()).to_owned(),
                    lag_records,
                    lag_seconds,
                    replicated: s.replicated.load(Relaxed),
                    records_per_sec: s.rate(),
                    last_error: s.last_error.lock().clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, &a.remote).cmp(&(&b.topic, &b.remote)));
        out
    }

    /// The links' figures in Prometheus' text format, for `/metrics`.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let all = self.status();
        let mut out = String::new();
        type Family = (&'static str, &'static str, &'static str, fn(&LinkStatus) -> f64);
        let families: [Family; 5] = [
            ("runnel_replication_replicated_total", "counter", "Records appended at the remote.", |s| {
                s.replicated as f64
            }),
            (
                "runnel_replication_lag_records",
                "gauge",
                "Local records not yet examined for the remote.",
                |s| s.lag_records as f64,
            ),
            (
                "runnel_replication_lag_seconds",
                "gauge",
                "Age of the oldest record not yet at the remote.",
                |s| s.lag_seconds,
            ),
            (
                "runnel_replication_records_per_second",
                "gauge",
                "Records replicated per second, lately.",
                |s| s.records_per_sec,
            ),
            ("runnel_replication_up", "gauge", "1 while the link runs, 0 when paused or retrying.", |s| {
                f64::from(u8::from(s.state == "running"))
            }),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for s in &all {
                let _ = writeln!(out, "{name}{{topic=\"{}\",remote=\"{}\"}} {}", s.topic, s.remote, value(s));
            }
        }
        out
    }
}
