//! Functions that run in their users' processes (Rust `Function<I, O>`s,
//! `runnel_client::function`): the server does not run them, it lists and
//! watches them. Each instance reports every few seconds; a function is listed
//! while one of its instances reported within its session timeout, and is
//! forgotten when the last one leaves or goes silent. Nothing is stored: a
//! restarted server knows the functions again at their instances' next report.
//!
//! A deleted function is remembered for a while (`DELETED_KEPT`), so that its
//! instances that started before the delete are told to stop instead of
//! registering it again.

use std::collections::{BTreeMap, HashMap};

use super::builtin::{Builtin, FunctionSpec};

/// How long a delete is remembered for the instances still running.
const DELETED_KEPT_MS: i64 = 10 * 60 * 1000;

/// What one instance said in its latest report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceReport {
    /// The function's name.
    pub name: String,
    /// Unique per process.
    pub instance_id: String,
    /// The input topic.
    pub input: String,
    /// The output topics it declared.
    pub outputs: Vec<String>,
    /// Its processing guarantee.
    pub guarantee: String,
    /// Input records processed since the instance started.
    pub processed: u64,
    /// Of which dead-lettered.
    pub failed: u64,
    /// Its latest failure ("" when none).
    pub last_error: String,
    /// The input partitions it owns.
    pub partitions: Vec<u32>,
    /// How long it may stay silent.
    pub session_timeout_ms: u32,
    /// When it started, ms since the epoch.
    pub started_ms: i64,
    /// The function's own counters.
    pub metrics: BTreeMap<String, i64>,
    /// It is stopping.
    pub leaving: bool,
}

/// An instance as the server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceStatus {
    /// The instance's latest report.
    pub report: InstanceReport,
    /// When it arrived, ms since the epoch.
    pub last_report_ms: i64,
}

/// A reported function: its instances, and the counts of those gone.
#[derive(Debug, Default)]
struct Reported {
    first_seen_ms: i64,
    instances: HashMap<String, InstanceStatus>,
    /// Processed and failed by instances that left or went silent.
    retired: (u64, u64),
    last_error: String,
}

/// The functions run by their users' processes.
#[derive(Debug, Default)]
pub struct Instances {
    functions: HashMap<String, Reported>,
    /// Deleted function → when.
    deleted: HashMap<String, i64>,
}

/// What an instance is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAnswer {
    /// Carry on.
    Registered,
    /// Its function was deleted after it started: stop.
    Deleted,
}

impl Instances {
    /// Takes a report at `now_ms`.
    pub fn report(&mut self, report: InstanceReport, now_ms: i64) -> ReportAnswer {
        self.expire(now_ms);
        if let Some(&at) = self.deleted.get(&report.name) {
            if report.started_ms <= at {
                return ReportAnswer::Deleted;
            }
            self.deleted.remove(&report.name);
        }
        let f = self
            .functions
            .entry(report.name.clone())
            .or_insert_with(|| Reported { first_seen_ms: now_ms, ..Reported::default() });
        if !report.last_error.is_empty() {
            f.last_error = report.last_error.clone();
        }
        if report.leaving {
            if let Some(gone) = f.instances.remove(&report.instance_id) {
                f.retired.0 += gone.report.processed.max(report.processed);
                f.retired.1 += gone.report.failed.max(report.failed);
            }
            if f.instances.is_empty() {
                self.functions.remove(&report.name);
            }
        } else {
            let id = report.instance_id.clone();
            f.instances.insert(id, InstanceStatus { report, last_report_ms: now_ms });
        }
        ReportAnswer::Registered
    }

    /// Whether `name` is a reported function.
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// Forgets `name`, telling its running instances to stop. False when unknown.
    pub fn delete(&mut self, name: &str, now_ms: i64) -> bool {
        let known = self.functions.remove(name).is_some();
        if known {
            self.deleted.insert(name.to_owned(), now_ms);
        }
        known
    }

    /// Drops instances silent past their session timeout, and old deletes.
    fn expire(&mut self, now_ms: i64) {
        self.functions.retain(|_, f| {
            let mut retired = (0, 0);
            f.instances.retain(|_, i| {
                let alive = now_ms - i.last_report_ms <= i64::from(i.report.session_timeout_ms.max(1000));
                if !alive {
                    retired.0 += i.report.processed;
                    retired.1 += i.report.failed;
                }
                alive
            });
            f.retired.0 += retired.0;
            f.retired.1 += retired.1;
            !f.instances.is_empty()
        });
        self.deleted.retain(|_, at| now_ms - *at < DELETED_KEPT_MS);
    }

    /// Every reported function with its live instances, at `now_ms`.
    pub fn snapshot(&mut self, now_ms: i64) -> Vec<ReportedFunction> {
        self.expire(now_ms);
        self.functions
            .iter()
            .map(|(name, f)| {
                let mut instances: Vec<InstanceStatus> = f.instances.values().cloned().collect();
                instances.sort_by(|a, b| a.report.instance_id.cmp(&b.report.instance_id));
                let newest = instances.iter().max_by_key(|i| i.last_report_ms).map(|i| &i.report);
                let spec = FunctionSpec {
                    name: name.clone(),
                    input: newest.map(|r| r.input.clone()).unwrap_or_default(),
                    builtin: Builtin::Rust {
                        outputs: newest.map(|r| r.outputs.clone()).unwrap_or_default(),
                        guarantee: newest.map(|r| r.guarantee.clone()).unwrap_or_default(),
                    },
                    created_ms: f.first_seen_ms,
                };
                let mut metrics = BTreeMap::new();
                for i in &instances {
                    for (k, v) in &i.report.metrics {
                        *metrics.entry(k.clone()).or_insert(0) += v;
                    }
                }
                ReportedFunction {
                    processed: f.retired.0 + instances.iter().map(|i| i.report.processed).sum::<u64>(),
                    failed: f.retired.1 + instances.iter().map(|i| i.report.failed).sum::<u64>(),
                    last_error: (!f.last_error.is_empty()).then(|| f.last_error.clone()),
                    spec,
                    instances,
                    metrics,
                }
            })
            .collect()
    }
}

/// A reported function, summed over its instances.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedFunction {
    /// Its name, input and outputs (kind `rust`).
    pub spec: FunctionSpec,
    /// Its live instances.
    pub instances: Vec<InstanceStatus>,
    /// Processed since the server first heard of it.
    pub processed: u64,
    /// Of which dead-lettered.
    pub failed: u64,
    /// The latest failure.
    pub last_error: Option<String>,
    /// The function's own counters, summed over instances.
    pub metrics: BTreeMap<String, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, id: &str, processed: u64) -> InstanceReport {
        InstanceReport {
            name: name.into(),
            instance_id: id.into(),
            input: "in".into(),
            guarantee: "effectively-once".into(),
            processed,
            session_timeout_ms: 10_000,
            started_ms: 1,
            ..InstanceReport::default()
        }
    }

    #[test]
    fn instances_are_summed_and_expire_after_their_session_timeout() {
        let mut all = Instances::default();
        assert_eq!(all.report(report("f", "a", 5), 1_000), ReportAnswer::Registered);
        all.report(report("f", "b", 7), 2_000);
        let s = all.snapshot(3_000);
        assert_eq!((s.len(), s[0].instances.len(), s[0].processed), (1, 2, 12));
        // `a` is silent past 10 s; its count stays with the function.
        all.report(report("f", "b", 9), 11_500);
        let s = all.snapshot(11_500);
        assert_eq!((s[0].instances.len(), s[0].processed), (1, 14));
        assert!(all.snapshot(40_000).is_empty(), "every instance silent: the function is gone");
    }

    #[test]
    fn a_deleted_function_stops_its_running_instances_but_not_new_ones() {
        let mut all = Instances::default();
        all.report(report("f", "a", 1), 1_000);
        assert!(all.delete("f", 2_000));
        assert_eq!(all.report(report("f", "a", 2), 3_000), ReportAnswer::Deleted);
        assert!(!all.contains("f"));
        let mut fresh = report("f", "c", 0);
        fresh.started_ms = 2_500;
        assert_eq!(all.report(fresh, 3_000), ReportAnswer::Registered);
        assert!(all.contains("f"));
    }

    #[test]
    fn a_leaving_instance_is_forgotten_at_once() {
        let mut all = Instances::default();
        all.report(report("f", "a", 3), 1_000);
        let mut bye = report("f", "a", 4);
        bye.leaving = true;
        all.report(bye, 1_100);
        assert!(all.snapshot(1_200).is_empty());
    }
}
