//! Stream functions. Built-ins (`filter`, `route`, `project`) the server
//! runs itself: definitions stored in `meta.redb` (table `functions`), checked
//! against the registry when created (`builtin.rs`), each run by one task
//! (`run.rs`) that reads its input and writes its outputs effectively once
//! through the transaction coordinator. Rust functions run in their users'
//! processes and report here (`instances.rs`). Both have one status
//! (processed, failed, lag, last error) for the front ends.
//!
//! The service calls topics, the appender, groups and transactions as a
//! front end would, and knows no front end. The design, with what is still to
//! `docs/functions.md`.

mod builtin;
mod instances;
mod run;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use parking_lot::Mutex;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use runnel_registry::Registry;
use tokio_util::sync::CancellationToken;

pub use builtin::{Builtin, FunctionSpec};
pub use instances::{InstanceReport, InstanceStatus, ReportAnswer};

use crate::error::BrokerError;
use crate::groups::Groups;
use crate::meta::records::now_ms;
use crate::meta::Meta;
use crate::produce::Appender;
use crate::topics::Topics;
use crate::transactions::Transactions;
use builtin::{latest, live_ids, Compiled};
use instances::{Instances, ReportedFunction};
use run::{Runner, Stats};

/// Function name → its [`FunctionSpec`], JSON.
const FUNCTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("functions");

/// Longest function name.
const MAX_NAME: usize = 200;

/// A function's definition and how it is doing.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStatus {
    /// The definition.
    pub spec: FunctionSpec,
    /// Instances running now (a built-in runs as one task: 0 or 1).
    pub instances: u32,
    /// Input records processed since the server started.
    pub processed: u64,
    /// Of which dead-lettered.
    pub failed: u64,
    /// Input records not yet processed, over all partitions.
    pub lag: i64,
    /// The latest failure.
    pub last_error: Option<String>,
    /// Rust functions: the instances reporting (built-ins: none).
    pub instance_list: Vec<InstanceStatus>,
    /// Rust functions: their own counters, summed over instances.
    pub metrics: std::collections::BTreeMap<String, i64>,
}

/// What the runners need of the broker.
#[derive(Clone)]
pub(crate) struct Services {
    pub topics: Arc<Topics>,
    pub registry: Registry,
    pub append: Arc<Appender>,
    pub transactions: Arc<Transactions>,
    pub groups: Arc<Groups>,
}

/// The functions service.
pub struct Functions {
    meta: Arc<Meta>,
    services: Services,
    running: Mutex<HashMap<String, Runner>>,
    /// The Rust functions their instances report.
    reported: Mutex<Instances>,
    /// Serializes creates and deletes.
    admin: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions").field("running", &self.running.lock().len()).finish_non_exhaustive()
    }
}

impl Functions {
    /// The service over the broker's other services; nothing runs until [`Functions::start`].
    pub fn new(
        meta: Arc<Meta>,
        topics: Arc<Topics>,
        registry: Registry,
        append: Arc<Appender>,
        transactions: Arc<Transactions>,
        groups: Arc<Groups>,
        shutdown: CancellationToken,
    ) -> Result<Functions, BrokerError> {
        let tx = meta.db().begin_write().map_err(BrokerError::meta)?;
        tx.open_table(FUNCTIONS).map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)?;
        Ok(Functions {
            meta,
            services: Services { topics, registry, append, transactions, groups },
            running: Mutex::new(HashMap::new()),
            reported: Mutex::new(Instances::default()),
            admin: tokio::sync::Mutex::new(()),
            shutdown,
        })
    }

    /// Starts every stored function. One whose definition no longer checks
    /// (its input deleted, say) is started all the same and reports why it
    /// does not run in its status.
    pub fn start(&self) -> Result<(), BrokerError> {
        for spec in self.stored()? {
            self.launch(spec);
        }
        Ok(())
    }

    fn launch(&self, spec: FunctionSpec) {
        let runner = Runner::start(spec.clone(), self.services.clone(), self.shutdown.child_token());
        self.running.lock().insert(spec.name.clone(), runner);
    }

    fn stored(&self) -> Result<Vec<FunctionSpec>, BrokerError> {
        let tx = self.meta.db().begin_read().map_err(BrokerError::meta)?;
        let table = tx.open_table(FUNCTIONS).map_err(BrokerError::meta)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(BrokerError::meta)? {
            let (_, v) = entry.map_err(BrokerError::meta)?;
            out.push(serde_json::from_slice(v.value()).map_err(BrokerError::meta)?);
        }
        Ok(out)
    }

    /// Creates and starts a function after checking it: the name is free, the
    /// input exists and has a schema, the condition or field checks against
    /// it, outputs exist (route's are created as records need them) and can
    /// hold what the function writes. `Builtin::Project`'s `schema_id` is
    /// assigned here (the schema is registered under the output's subject).
    pub async fn create(
        &self,
        name: &str,
        input: &str,
        mut builtin: Builtin,
    ) -> Result<FunctionStatus, BrokerError> {
        check_name(name)?;
        let _admin = self.admin.lock().await;
        if self.running.lock().contains_key(name) || self.reported.lock().contains(name) {
            return Err(BrokerError::AlreadyExists(format!("function '{name}' already exists")));
        }
        let registry = &self.services.registry;
        let topics = &self.services.topics;
        let source = topics.get(input)?;
        let input = source.meta.name.clone();
        let subject = source.meta.config.value_subject.clone();
        let reader = latest(registry, &subject, &input)?;
        let compiled = Compiled::new(&builtin, &reader)?;
        match &mut builtin {
            Builtin::Filter { output, .. } => {
                let out = topics.get(output)?;
                *output = out.meta.name.clone();
                if *output == input {
                    return Err(BrokerError::InvalidArgument(
                        "the output is the input: the function would read its own records".into(),
                    ));
                }
                let out_subject = &out.meta.config.value_subject;
                let missing: Vec<String> = live_ids(registry, &subject)?
                    .into_iter()
                    .filter(|(_, id)| !matches!(registry.version_of_id(out_subject, *id), Ok(Some(_))))
                    .map(|(v, id)| format!("id {id} (version {v} of `{subject}`)"))
                    .collect();
                if out.meta.config.validation != crate::topics::Validation::None && !missing.is_empty() {
                    return Err(BrokerError::InvalidArgument(format!(
                        "the output `{output}` is bound to `{out_subject}`, which lacks {}: records passed through would be refused there",
                        missing.join(", ")
                    )));
                }
            }
            Builtin::Route { default_topic, .. } => {
                if let Some(d) = default_topic.as_mut() {
                    *d = stored_name(d)?;
                    if *d == input {
                        return Err(BrokerError::InvalidArgument("the default topic is the input".into()));
                    }
                }
            }
            Builtin::Project { output, schema, schema_id } => {
                let out = topics.get(output)?;
                *output = out.meta.name.clone();
                let Compiled::Project(projection) = &compiled else {
                    unreachable!("a project compiles to a projection")
                };
                let mut reasons = Vec::new();
                for (version, id) in live_ids(registry, &subject)? {
                    let writer = registry.schema_by_id(id)?;
                    if let Err(e) = runnel_avro::resolve::Plan::new(&writer, projection) {
                        reasons.push(format!("version {version} of `{subject}` (id {id}): {e}"));
                    }
                }
                if !reasons.is_empty() {
                    return Err(BrokerError::InvalidArgument(format!(
                        "the projection cannot read every live version of the input: {}",
                        reasons.join("; ")
                    )));
                }
                let registered = registry.register(&out.meta.config.value_subject, schema)?;
                *schema_id = registered.id;
            }
            // Refused by `Compiled::new` above: a Rust function is never created here.
            Builtin::Rust { .. } => {}
        }
        let spec = FunctionSpec {
            name: name.to_owned(),
            input,
            builtin,
            created_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        };
        let json = serde_json::to_vec(&spec).map_err(BrokerError::meta)?;
        let tx = self.meta.db().begin_write().map_err(BrokerError::meta)?;
        tx.open_table(FUNCTIONS)
            .map_err(BrokerError::meta)?
            .insert(name, json.as_slice())
            .map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)?;
        tracing::info!(function = name, kind = spec.builtin.kind(), input = %spec.input, "function created");
        self.launch(spec);
        self.get(name)
    }

    /// A function's definition and status.
    pub fn get(&self, name: &str) -> Result<FunctionStatus, BrokerError> {
        if let Some(runner) = self.running.lock().get(name) {
            return Ok(self.status(runner));
        }
        self.reported_now()
            .into_iter()
            .find(|f| f.spec.name == name)
            .map(|f| self.reported_status(f))
            .ok_or_else(|| BrokerError::NotFound(format!("no function '{name}'")))
    }

    /// Every function, by name.
    pub fn list(&self) -> Vec<FunctionStatus> {
        let mut all: Vec<FunctionStatus> = self.running.lock().values().map(|r| self.status(r)).collect();
        all.extend(self.reported_now().into_iter().map(|f| self.reported_status(f)));
        all.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        all
    }

    /// Each function's (processed, dead-lettered) counts, without the lag (which reads the
    /// group's offsets): for the console's sampler, every second.
    pub fn counts(&self) -> HashMap<String, (u64, u64)> {
        let mut out: HashMap<String, (u64, u64)> = self
            .running
            .lock()
            .iter()
            .map(|(name, r)| (name.clone(), (r.stats.processed.load(Relaxed), r.stats.failed.load(Relaxed))))
            .collect();
        out.extend(self.reported_now().into_iter().map(|f| (f.spec.name, (f.processed, f.failed))));
        out
    }

    /// Takes an instance's report of a Rust function; a name a built-in holds is refused.
    pub fn report(&self, report: InstanceReport) -> Result<ReportAnswer, BrokerError> {
        check_name(&report.name)?;
        if self.running.lock().contains_key(&report.name) {
            return Err(BrokerError::AlreadyExists(format!(
                "function '{}' already exists as a built-in",
                report.name
            )));
        }
        Ok(self.reported.lock().report(report, now_ms()))
    }

    fn reported_now(&self) -> Vec<ReportedFunction> {
        self.reported.lock().snapshot(now_ms())
    }

    fn reported_status(&self, f: ReportedFunction) -> FunctionStatus {
        FunctionStatus {
            lag: run::lag(&self.services, &f.spec),
            spec: f.spec,
            instances: f.instances.len() as u32,
            processed: f.processed,
            failed: f.failed,
            last_error: f.last_error,
            instance_list: f.instances,
            metrics: f.metrics,
        }
    }

    fn status(&self, runner: &Runner) -> FunctionStatus {
        let stats: &Stats = &runner.stats;
        FunctionStatus {
            spec: runner.spec.clone(),
            instances: u32::from(stats.running.load(Relaxed)),
            processed: stats.processed.load(Relaxed),
            failed: stats.failed.load(Relaxed),
            lag: run::lag(&self.services, &runner.spec),
            last_error: stats.last_error.lock().clone(),
            instance_list: Vec::new(),
            metrics: Default::default(),
        }
    }

    /// The functions' counters in Prometheus' text format, for `/metrics`.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let all = self.list();
        let mut out = String::new();
        // (name, type, help, value of one function)
        type Family = (&'static str, &'static str, &'static str, fn(&FunctionStatus) -> i64);
        let families: [Family; 4] = [
            ("runnel_function_processed_total", "counter", "Input records a function processed.", |s| {
                s.processed as i64
            }),
            ("runnel_function_failed_total", "counter", "Input records a function dead-lettered.", |s| {
                s.failed as i64
            }),
            ("runnel_function_lag", "gauge", "Input records a function has not processed yet.", |s| s.lag),
            ("runnel_function_instances", "gauge", "Instances of a function running.", |s| {
                i64::from(s.instances)
            }),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for s in &all {
                let _ = writeln!(
                    out,
                    "{name}{{function=\"{}\",kind=\"{}\"}} {}",
                    s.spec.name,
                    s.spec.builtin.kind(),
                    value(s)
                );
            }
        }
        let name = "runnel_function_metric";
        let _ = writeln!(
            out,
            "# HELP {name} A Rust function's own counter (Context::count).\n# TYPE {name} gauge"
        );
        for s in &all {
            for (metric, v) in &s.metrics {
                let metric = metric.replace(['\\', '"', '\n'], "_");
                let _ = writeln!(out, "{name}{{function=\"{}\",metric=\"{metric}\"}} {v}", s.spec.name);
            }
        }
        out
    }

    /// Stops a function and forgets it (and its input position).
    pub async fn delete(&self, name: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        if self.reported.lock().delete(name, now_ms()) {
            tracing::info!(function = name, "rust function deleted: its instances are told to stop");
            return Ok(());
        }
        let runner = self
            .running
            .lock()
            .remove(name)
            .ok_or_else(|| BrokerError::NotFound(format!("no function '{name}'")))?;
        runner.stop().await;
        let tx = self.meta.db().begin_write().map_err(BrokerError::meta)?;
        tx.open_table(FUNCTIONS).map_err(BrokerError::meta)?.remove(name).map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)?;
        let group = run::group_of(name);
        let meta = Arc::clone(&self.meta);
        let _ = tokio::task::spawn_blocking(move || meta.delete_offsets(&group, None, None)).await;
        tracing::info!(function = name, "function deleted");
        Ok(())
    }

    /// Stops every function (on shutdown), waiting for their tasks.
    pub async fn stop(&self) {
        let runners: Vec<Runner> = self.running.lock().drain().map(|(_, r)| r).collect();
        for r in runners {
            r.stop().await;
        }
    }
}

/// The stored form of a topic name (`public/default/x` is `x`).
fn stored_name(topic: &str) -> Result<String, BrokerError> {
    let full = runnel_auth::names::TopicName::parse(topic)
        .map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
    Ok(full.short().as_str().to_owned())
}

fn check_name(name: &str) -> Result<(), BrokerError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(BrokerError::InvalidArgument(format!(
            "function name '{name}' must be 1 to {MAX_NAME} of the characters a-z A-Z 0-9 . _ -"
        )))
    }
}
