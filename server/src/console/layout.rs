//! The page shell every console page shares, and how numbers and times
//! are written for people (relative times with the UTC time beside them).

use maud::{html, Markup, DOCTYPE};

use super::paths;

/// A console page: `signed_in` carries the session's CSRF token for the
/// sign-out form (`None` on the sign-in page).
pub(crate) fn page(title: &str, signed_in: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · azmx-sync relay" }
                link rel="stylesheet" href=(paths::STYLE);
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Console" {
                        a.brand href=(paths::HOME) { "azmx-sync relay" }
                        @if let Some(csrf) = signed_in {
                            a href=(paths::HOME) { "Licenses" }
                            form.inline method="post" action=(paths::LOGOUT) {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    p { "The relay stores sealed blobs only: record contents are never readable here." }
                }
            }
        }
    }
}

/// `2024-05-01T12:34:56Z` for unix seconds `ts` (proleptic Gregorian, UTC).
pub(crate) fn iso_utc(ts: i64) -> String {
    let (y, m, d) = civil(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `2024-05-01` for UTC day number `day` (days since 1970-01-01).
pub(crate) fn iso_day(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Year, month, day of a day number (H. Hinnant's `civil_from_days`).
fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "3 min ago" for `ts` seen at `now`.
pub(crate) fn relative(ts: i64, now: i64) -> String {
    let d = now.saturating_sub(ts);
    match d {
        i64::MIN..=-60 => "in the future (clock skew)".into(),
        -59..=9 => "just now".into(),
        10..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        86_400..=172_799 => "yesterday".into(),
        _ => format!("{} days ago", d / 86_400),
    }
}

/// A time as people read it, with the exact UTC time for machines and on
/// hover; "never" for `None`.
pub(crate) fn when(ts: Option<i64>, now: i64) -> Markup {
    match ts {
        Some(ts) => {
            let iso = iso_utc(ts);
            html! { time datetime=(iso) title=(iso.replace('T', " ").replace('Z', " UTC")) { (relative(ts, now)) } }
        }
        None => html! { span.muted { "never" } },
    }
}

/// `1.5 MiB`, exact below 1 KiB.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes_read_as_people_write_them() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_day(19_723), "2024-01-01");
        assert_eq!(relative(100, 100), "just now");
        assert_eq!(relative(100, 130), "30 s ago");
        assert_eq!(relative(0, 180), "3 min ago");
        assert_eq!(relative(0, 7200), "2 h ago");
        assert_eq!(relative(0, 90_000), "yesterday");
        assert_eq!(relative(0, 10 * 86_400), "10 days ago");
        assert_eq!(relative(1000, 0), "in the future (clock skew)");
        let t = when(Some(1_700_000_000), 1_700_000_180).into_string();
        assert_eq!(
            t,
            "<time datetime=\"2023-11-14T22:13:20Z\" title=\"2023-11-14 22:13:20 UTC\">3 min ago</time>"
        );
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
