//! The overview page (`/ui`): health, topics, storage used, and records and bytes in and out
//! per second over the last minutes, charted from the console's samples of the broker's
//! counters.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::chart::{self, Series};
use super::{layout, Console, Nav, Sess};

pub(crate) async fn page(State(console): State<Arc<Console>>, Sess(session): Sess) -> Response {
    let broker = console.broker();
    let topics = console.visible_topics(&session);
    let (mut partitions, mut records, mut bytes) = (0usize, 0i64, 0u64);
    for t in &topics {
        partitions += t.partitions.len();
        for log in &t.partitions {
            let s = log.stats();
            records += s.high_watermark - s.log_start_offset;
            bytes += s.size_bytes;
        }
    }
    let m = &broker.metrics;
    let samples = console.samples();
    let counter = |f: fn(&super::Sample) -> u64| -> Vec<(i64, f64)> {
        chart::rates(&samples.iter().map(|s| (s.at_ms, f(s))).collect::<Vec<_>>())
    };
    let body = html! {
        section.cards {
            div.card id="health" { h2 { "Health" } p.big.ok { "ok" } p { "serving; " (m.connections.load(Relaxed)) " gRPC connections" } }
            div.card id="topic-count" { h2 { "Topics" } p.big { (topics.len()) } p { (partitions) " partitions" } }
            div.card id="record-count" { h2 { "Records" } p.big { (chart::short_number(records as f64)) } p { "stored, over all partitions" } }
            div.card id="storage" { h2 { "Storage" } p.big { (super::human_bytes(bytes)) } p { "in segment files" } }
            div.card id="refused" { h2 { "Refused" } p.big { (m.refused_invalid_record.load(Relaxed)) } p { "invalid records refused" } }
        }
        section.charts {
            (chart::line_chart("chart-records", "Records per second", "/s", &[
                Series { label: "in", color: "#2a7ae2", points: counter(|s| s.records_in) },
                Series { label: "out", color: "#e2682a", points: counter(|s| s.records_out) },
            ]))
            (chart::line_chart("chart-bytes", "Bytes per second", "B/s", &[
                Series { label: "in", color: "#2a7ae2", points: counter(|s| s.bytes_in) },
                Series { label: "out", color: "#e2682a", points: counter(|s| s.bytes_out) },
            ]))
        }
        p.hint { "Sampled every second from the broker's counters (the same as " a href="/metrics" { "/metrics" } "); the page reloads itself every 5 s." }
        meta data-refresh="5";
    };
    layout(Some(&session), Nav::Overview, "Overview", body).into_response()
}
