//! A license's pushes over time as inline SVG drawn by the relay (no
//! script, no external asset, allowed by `img-src`/`style-src`-only CSP:
//! presentation attributes, no inline styles), with the same numbers as a
//! table for screen readers and for copying.

use maud::{html, Markup};

use super::layout::{bytes, iso_day};
use crate::storage::PushDay;

/// Days the chart shows, ending today.
pub(crate) const CHART_DAYS: i64 = 30;

const WIDTH: i64 = 600;
const HEIGHT: i64 = 120;
/// Room left of the bars for the scale's label.
const LEFT: i64 = 70;
const BOTTOM: i64 = 18;

/// One value per day of the window ending on `today` (missing days are 0).
fn series(days: &[PushDay], today: i64, pick: impl Fn(&PushDay) -> u64) -> Vec<(i64, u64)> {
    let first = today - (CHART_DAYS - 1);
    (first..=today)
        .map(|d| (d, days.iter().find(|p| p.day == d).map_or(0, &pick)))
        .collect()
}

/// One bar chart; `label` formats a value for the scale and bar titles.
fn bars(id: &str, title: &str, values: &[(i64, u64)], label: impl Fn(u64) -> String) -> Markup {
    let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let slot = plot_w / values.len().max(1) as i64;
    let total: u64 = values.iter().map(|v| v.1).sum();
    let desc = format!(
        "{title}, last {CHART_DAYS} days: {} in all, at most {} on one day.",
        label(total),
        label(max)
    );
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-labelledby=(format!("{id}-t {id}-d")) {
            title id=(format!("{id}-t")) { (title) }
            desc id=(format!("{id}-d")) { (desc) }
            line x1=(LEFT) y1=(plot_h) x2=(WIDTH) y2=(plot_h) stroke="#667" stroke-width="1" {}
            text x=(LEFT - 6) y="12" text-anchor="end" font-size="11" fill="#334" { (label(max)) }
            text x=(LEFT - 6) y=(plot_h) text-anchor="end" font-size="11" fill="#334" { "0" }
            @for (i, (day, v)) in values.iter().enumerate() {
                @let h = (*v as f64 / max as f64 * (plot_h - 4) as f64).round() as i64;
                @let h = if *v > 0 { h.max(1) } else { 0 };
                rect x=(LEFT + i as i64 * slot + 1) y=(plot_h - h) width=((slot - 2).max(1))
                    height=(h) fill="#2f6db5" {
                    title { (iso_day(*day)) ": " (label(*v)) }
                }
            }
            @if let (Some(first), Some(last)) = (values.first(), values.last()) {
                text x=(LEFT) y=(HEIGHT - 3) font-size="11" fill="#334" { (iso_day(first.0)) }
                text x=(WIDTH) y=(HEIGHT - 3) text-anchor="end" font-size="11" fill="#334" { (iso_day(last.0)) }
            }
        }
    }
}

fn pushes_label(n: u64) -> String {
    format!("{n} push{}", if n == 1 { "" } else { "es" })
}

/// The license's chart section: sealed bytes and pushes per day for the
/// last [`CHART_DAYS`] days, then the table of the days with pushes.
pub(crate) fn push_chart(days: &[PushDay], today: i64) -> Markup {
    let sealed = series(days, today, |d| d.sealed_bytes);
    let pushes = series(days, today, |d| d.pushes);
    let shown: Vec<&PushDay> = days
        .iter()
        .filter(|d| d.day > today - CHART_DAYS && d.day <= today)
        .collect();
    html! {
        section aria-labelledby="activity" {
            h2 id="activity" { "Activity, last " (CHART_DAYS) " days (UTC)" }
            figure {
                (bars("bytes", "Sealed bytes pushed per day", &sealed, bytes))
                (bars("pushes", "Pushes per day", &pushes, pushes_label))
                figcaption { "Sealed (encrypted) bytes and accepted pushes per UTC day. "
                    "The same numbers are in the table below." }
            }
            details {
                summary { "Activity as a table" }
                @if shown.is_empty() {
                    p { "No pushes in the last " (CHART_DAYS) " days." }
                } @else {
                    div.scroll {
                        table {
                            caption { "Days with pushes (days without are left out)" }
                            thead { tr {
                                th scope="col" { "Day (UTC)" }
                                th scope="col" { "Pushes" }
                                th scope="col" { "Sealed bytes" }
                            } }
                            tbody {
                                @for d in &shown {
                                    tr {
                                        th scope="row" { (iso_day(d.day)) }
                                        td.num { (d.pushes) }
                                        td.num { (bytes(d.sealed_bytes)) " (" (d.sealed_bytes) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_day_and_the_table_the_days_with_pushes() {
        let today = 19_800;
        let days = [
            PushDay {
                day: today - 40,
                pushes: 9,
                sealed_bytes: 9,
            },
            PushDay {
                day: today - 2,
                pushes: 3,
                sealed_bytes: 3000,
            },
            PushDay {
                day: today,
                pushes: 1,
                sealed_bytes: 100,
            },
        ];
        let html = push_chart(&days, today).into_string();
        assert_eq!(html.matches("<rect").count(), 2 * CHART_DAYS as usize);
        assert!(html.contains(&format!("{}: 3 pushes", iso_day(today - 2))));
        assert!(html.contains("2.9 KiB (3000)"));
        assert!(!html.contains(&iso_day(today - 40)), "outside the window");
        assert!(!html.contains("style="), "CSP allows no inline styles");
        assert!(push_chart(&[], today).into_string().contains("No pushes"));
    }
}
