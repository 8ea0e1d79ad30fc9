//! Results of a benchmark: a readable table, or one JSON object on the last
//! line with `--output json` (keys include `records_per_sec`, `mb_per_sec`,
//! `latency_ms` with `p50`, `p99`, `p999`, `max`).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Latencies in microseconds, 1 µs to 1 hour, 3 significant digits.
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl LatencyRecorder {
    pub fn new() -> Self {
        LatencyRecorder {
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.histogram.saturating_record(d.as_micros().clamp(1, u128::from(u64::MAX)) as u64);
    }

    pub fn merge(&mut self, other: &LatencyRecorder) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn summary(&self) -> Value {
        json!({
            "p50": self.ms(0.50),
            "p99": self.ms(0.99),
            "p999": self.ms(0.999),
            "max": self.histogram.max() as f64 / 1000.0,
            "count": self.histogram.len(),
        })
    }
}

/// An ordered set of named results.
pub struct Report {
    fields: Map<String, Value>,
}

impl Report {
    pub fn new(bench: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("bench".into(), json!(bench));
        Report { fields }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    pub fn latency(&mut self, latencies: &LatencyRecorder) {
        self.fields.insert("latency_ms".into(), latencies.summary());
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.fields.get(key).and_then(Value::as_f64)
    }

    /// Prints the report: aligned `key  value` lines, or one JSON line.
    pub fn print(&self, json_output: bool) {
        if json_output {
            println!("{}", Value::Object(self.fields.clone()));
            return;
        }
        let width = self.fields.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &self.fields {
            match v {
                Value::Object(inner) => {
                    let parts: Vec<String> =
                        inner.iter().map(|(ik, iv)| format!("{ik}={}", fmt(iv))).collect();
                    println!("{k:width$}  {}", parts.join("  "));
                }
                other => println!("{k:width$}  {}", fmt(other)),
            }
        }
    }
}

fn fmt(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f.abs() >= 100.0 {
                format!("{f:.0}")
            } else {
                format!("{f:.3}")
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
