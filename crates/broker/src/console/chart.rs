//! Line charts as inline SVG, drawn on the server from the console's samples: no script and
//! no chart library, so a chart is part of the page (and of its screenshot) as it is sent.

use maud::{html, Markup};

/// One line: its label, CSS colour and points (x in ms, y).
pub(crate) struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub points: Vec<(i64, f64)>,
}

const W: f64 = 640.0;
const H: f64 = 180.0;
const LEFT: f64 = 64.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 10.0;

/// A line chart of `series` over a shared time axis, `unit` after the y labels.
pub(crate) fn line_chart(id: &str, title: &str, unit: &str, series: &[Series<'_>]) -> Markup {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let ymax = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0f64, f64::max);
    let ymax = nice_ceiling(ymax);
    let empty = x0 >= x1;
    let px = |x: i64| LEFT + (x - x0) as f64 / (x1 - x0).max(1) as f64 * (W - LEFT - 8.0);
    let py = |y: f64| TOP + (1.0 - y / ymax) * (H - TOP - BOTTOM);
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) width=(W) height=(H) role="img" aria-label=(title) {
                @for i in 0..=4 {
                    @let y = ymax * f64::from(i) / 4.0;
                    line x1=(LEFT) x2=(W - 8.0) y1=(py(y)) y2=(py(y)) class="grid" {}
                    text x=(LEFT - 6.0) y=(py(y) + 4.0) text-anchor="end" class="axis" { (short_number(y)) (unit) }
                }
                @if empty {
                    text x=(W / 2.0) y=(H / 2.0) text-anchor="middle" class="axis" { "collecting samples…" }
                } @else {
                    text x=(LEFT) y=(H - 4.0) class="axis" { (super::format_ms(x0).get(11..19).unwrap_or("")) }
                    text x=(W - 8.0) y=(H - 4.0) text-anchor="end" class="axis" { (super::format_ms(x1).get(11..19).unwrap_or("")) " UTC" }
                    @for s in series {
                        @let pts: Vec<String> = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
                        polyline points=(pts.join(" ")) fill="none" stroke=(s.color) stroke-width="2" {
                            title { (s.label) }
                        }
                    }
                }
            }
            p.legend {
                @for s in series {
                    span { i style=(format!("background:{}", s.color)) {} (s.label) " " (s.points.last().map(|p| short_number(p.1)).unwrap_or_default()) (unit) }
                }
            }
        }
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (at least 1).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let exp = v.log10().floor();
    let base = 10f64.powf(exp);
    for m in [1.0, 2.0, 5.0, 10.0] {
        if v <= m * base {
            return m * base;
        }
    }
    10.0 * base
}

/// `1234567` → `1.2M`.
pub(crate) fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a == a.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The per-second rates of a counter between consecutive samples: (time, rate).
pub(crate) fn rates(samples: &[(i64, u64)]) -> Vec<(i64, f64)> {
    samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].0 - w[0].0).max(1) as f64 / 1000.0;
            (w[1].0, w[1].1.saturating_sub(w[0].1) as f64 / dt)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_and_rates() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(rates(&[(0, 0), (1000, 10), (3000, 30)]), vec![(1000, 10.0), (3000, 10.0)]);
        assert_eq!(short_number(1_500_000.0), "1.5M");
    }
}
