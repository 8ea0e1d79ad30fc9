//! The functions page (`/ui/functions`): every function whose input the session may see, built-in
//! or Rust (run by its users' processes), with its definition, instances (a Rust function's with
//! the partitions each owns), records processed and dead-lettered, lag, the latest error, and a
//! chart of records processed per second from the console's samples.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::chart::{self, Series};
use super::{layout, Console, Nav, Sess};

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/ui/functions", axum::routing::get(page))
}

async fn page(State(console): State<Arc<Console>>, Sess(session): Sess) -> Response {
    let functions: Vec<_> = console
        .broker()
        .functions
        .list()
        .into_iter()
        .filter(|f| super::sees_topic(&session, &f.spec.input))
        .collect();
    let samples = console.samples();
    let body = html! {
        @if functions.is_empty() {
            p { "No function is visible to this session. Create one with "
                code { "runnel function create NAME --builtin filter|route|project …" }
                " or run a Rust function (" code { "runnel::function" } ")." }
        }
        @for f in &functions {
            @let name = &f.spec.name;
            @let processed = chart::rates(&samples.iter()
                .filter_map(|s| s.functions.get(name).map(|(p, _)| (s.at_ms, *p)))
                .collect::<Vec<_>>());
            @let failed = chart::rates(&samples.iter()
                .filter_map(|s| s.functions.get(name).map(|(_, d)| (s.at_ms, *d)))
                .collect::<Vec<_>>());
            section.function data-function=(name) {
                h2 { "Function " (name) }
                table.kv {
                    tr { th { "Kind" } td.kind { (f.spec.builtin.kind()) } }
                    tr { th { "Input" } td { a href={ "/ui/topic?name=" (super::url_encode(&f.spec.input)) } { (f.spec.input) } } }
                    tr { th { "Outputs" } td { (f.spec.builtin.outputs().join(", ")) } }
                    tr { th { "Definition" } td.definition { (f.spec.builtin.definition()) } }
                    tr { th { "Instances" } td.instances { (f.instances) } }
                    tr { th { "Processed" } td.processed { (f.processed) } }
                    tr { th { "Dead-lettered" } td.failed { (f.failed) " (to " (name) "-dlq)" } }
                    tr { th { "Lag" } td.lag { (f.lag) } }
                    tr { th { "Last error" } td.last-error { (f.last_error.as_deref().unwrap_or("none")) } }
                }
                @if !f.instance_list.is_empty() {
                    table.instances {
                        thead { tr { th { "Instance" } th { "Partitions" } th.num { "Processed" } th.num { "Failed" } th { "Last report" } } }
                        tbody {
                            @for i in &f.instance_list {
                                tr {
                                    td { (i.report.instance_id) }
                                    td { (format!("{:?}", i.report.partitions)) }
                                    td.num { (i.report.processed) }
                                    td.num { (i.report.failed) }
                                    td { (super::format_ms(i.last_report_ms)) " UTC" }
                                }
                            }
                        }
                    }
                }
                @if !f.metrics.is_empty() {
                    table.metrics {
                        thead { tr { th { "Counter" } th.num { "Value" } } }
                        tbody { @for (k, v) in &f.metrics { tr { td { (k) } td.num { (v) } } } }
                    }
                }
                (chart::line_chart(&format!("fn-{}", super::url_encode(name)), "Records per second", "/s", &[
                    Series { label: "processed", color: "#2a7ae2", points: processed },
                    Series { label: "dead-lettered", color: "#d33", points: failed },
                ]))
            }
        }
    };
    layout(Some(&session), Nav::Functions, "Functions", body).into_response()
}
