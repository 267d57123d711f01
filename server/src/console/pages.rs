//! The pages that only read: every license with its totals, and one
//! license's devices (sortable) with its activity chart.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup};

use super::chart::{push_chart, CHART_DAYS};
use super::layout::{bytes, page, when};
use super::{html_page, paths, problem, see_other, storage_failed, Console};
use crate::storage::{day_of, DeviceInfo};

/// Licenses listed on the licenses page (each costs a device query).
const MAX_LICENSES_LISTED: usize = 500;

pub(super) async fn licenses(State(c): State<Arc<Console>>, h: HeaderMap) -> Response {
    let Some(s) = c.signed_in(&h) else {
        return see_other(paths::LOGIN);
    };
    let now = c.now();
    let all = match c.storage.licenses().await {
        Ok(l) => l,
        Err(e) => return storage_failed(e, Some(&s)),
    };
    let mut rows = Vec::new();
    for l in all.iter().take(MAX_LICENSES_LISTED) {
        let devices = match c.storage.devices(&l.license_id).await {
            Ok(d) => d.unwrap_or_default(),
            Err(e) => return storage_failed(e, Some(&s)),
        };
        let last = devices
            .iter()
            .flat_map(|d| [Some(d.created_at), d.last_push_at, d.last_pull_at])
            .flatten()
            .max();
        rows.push((l, devices, last));
    }
    let body = html! {
        @if all.is_empty() {
            p { "No licenses yet. Add one with " code { "azmx-sync-relay license add <id>" } "." }
        } @else {
            div.scroll {
                table {
                    caption { (all.len()) " licenses" @if all.len() > MAX_LICENSES_LISTED {
                        " (the first " (MAX_LICENSES_LISTED) " by id shown)" } }
                    thead { tr {
                        th scope="col" { "License" }
                        th scope="col" { "Devices" }
                        th scope="col" { "Revoked" }
                        th scope="col" { "Blobs" }
                        th scope="col" { "Stored" }
                        th scope="col" { "Last activity" }
                        th scope="col" { "Created" }
                    } }
                    tbody {
                        @for (l, devices, last) in &rows {
                            tr {
                                th scope="row" { a href=(paths::license(&l.license_id)) { (l.license_id) } }
                                td.num { (devices.len()) }
                                td.num { (devices.iter().filter(|d| d.revoked).count()) }
                                td.num { (devices.iter().map(|d| d.blob_count).sum::<u64>()) }
                                td.num { (bytes(devices.iter().map(|d| d.sealed_bytes).sum())) }
                                td { (when(*last, now)) }
                                td { (when(Some(l.created_at), now)) }
                            }
                        }
                    }
                }
            }
        }
    };
    html_page(StatusCode::OK, page("Licenses", Some(&s.csrf), body))
}

/// A column the device table sorts by (`?sort=key`, `?sort=-key` for
/// descending).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Created,
    LastPush,
    LastPull,
    Blobs,
    Bytes,
    Revoked,
}

const COLUMNS: [(Column, &str, &str); 7] = [
    (Column::Name, "name", "Name"),
    (Column::Created, "created", "Created"),
    (Column::LastPush, "last-push", "Last push"),
    (Column::LastPull, "last-pull", "Last pull"),
    (Column::Blobs, "blobs", "Blobs"),
    (Column::Bytes, "bytes", "Sealed bytes"),
    (Column::Revoked, "revoked", "Status"),
];

/// The sort a query asks for; registration order for anything else.
fn sort_of(query: Option<&str>) -> (Column, bool) {
    let asked = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "sort"))
        .map(|(_, v)| v)
        .unwrap_or_default();
    let (desc, key) = match asked.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, asked.as_str()),
    };
    COLUMNS
        .iter()
        .find(|c| c.1 == key)
        .map_or((Column::Created, false), |c| (c.0, desc))
}

fn sort_devices(devices: &mut [DeviceInfo], col: Column, desc: bool) {
    // Stable: ties keep registration order.
    devices.sort_by(|a, b| {
        let o = match col {
            Column::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            Column::Created => a.created_at.cmp(&b.created_at),
            Column::LastPush => a.last_push_at.cmp(&b.last_push_at),
            Column::LastPull => a.last_pull_at.cmp(&b.last_pull_at),
            Column::Blobs => a.blob_count.cmp(&b.blob_count),
            Column::Bytes => a.sealed_bytes.cmp(&b.sealed_bytes),
            Column::Revoked => a.revoked.cmp(&b.revoked),
        };
        if desc {
            o.reverse()
        } else {
            o
        }
    });
}

/// A column header that sorts by it (again: the other way).
fn header(lid: &str, col: Column, key: &str, label: &str, now: (Column, bool)) -> Markup {
    let active = now.0 == col;
    let next_desc = active && !now.1;
    let href = format!(
        "{}?sort={}{key}",
        paths::license(lid),
        if next_desc { "-" } else { "" }
    );
    let sorted = match (active, now.1) {
        (false, _) => None,
        (true, false) => Some("ascending"),
        (true, true) => Some("descending"),
    };
    html! {
        th scope="col" aria-sort=[sorted] {
            a href=(href) { (label) @if let Some(s) = sorted { span.sr { " (sorted " (s) ")" } span aria-hidden="true" { @if s == "ascending" { " ▲" } @else { " ▼" } } } }
        }
    }
}

/// A device's fingerprint (as its `status` shows it), from the public key
/// the relay verifies its signatures with.
async fn fingerprint(c: &Console, device_id: &str) -> Option<String> {
    let rec = c.storage.device(device_id).await.ok()??;
    let raw = azmx_sync_core::b64::decode(&rec.public_key).ok()?;
    Some(azmx_sync_core::identity::fingerprint_of(&raw))
}

pub(super) async fn license(
    State(c): State<Arc<Console>>,
    h: HeaderMap,
    Path(lid): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(s) = c.signed_in(&h) else {
        return see_other(paths::LOGIN);
    };
    let now = c.now();
    let record = match c.storage.license(&lid).await {
        Ok(Some(r)) => r,
        Ok(None) => return problem(StatusCode::NOT_FOUND, Some(&s), "No such license."),
        Err(e) => return storage_failed(e, Some(&s)),
    };
    let mut devices = match c.storage.devices(&lid).await {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => return storage_failed(e, Some(&s)),
    };
    let today = day_of(now);
    let days = match c.storage.push_days(&lid, today - (CHART_DAYS - 1)).await {
        Ok(d) => d,
        Err(e) => return storage_failed(e, Some(&s)),
    };
    let sort = sort_of(query.as_deref());
    sort_devices(&mut devices, sort.0, sort.1);
    let mut prints = Vec::with_capacity(devices.len());
    for d in &devices {
        prints.push(fingerprint(&c, &d.device_id).await);
    }
    let body = html! {
        p { "Created " (when(Some(record.created_at), now))
            @if let Some(max) = record.max_devices { " · at most " (max) " live devices" }
            " · " a href=(paths::rotate(&lid)) { "Rotate the license key…" } }
        section aria-labelledby="devices" {
            h2 id="devices" { "Devices" }
            @if devices.is_empty() {
                p { "No device has registered yet." }
            } @else {
                div.scroll {
                    table #device-table {
                        caption { (devices.len()) " devices; select a column header to sort" }
                        thead { tr {
                            (header(&lid, COLUMNS[0].0, COLUMNS[0].1, COLUMNS[0].2, sort))
                            th scope="col" { "Fingerprint" }
                            @for (col, key, label) in &COLUMNS[1..] {
                                (header(&lid, *col, key, label, sort))
                            }
                            th scope="col" { span.sr { "Actions" } }
                        } }
                        tbody {
                            @for (d, fp) in devices.iter().zip(&prints) {
                                tr {
                                    th scope="row" { (d.name) br; small.muted { (d.device_id) } }
                                    td { code { (fp.as_deref().unwrap_or("—")) } }
                                    td { (when(Some(d.created_at), now)) }
                                    td { (when(d.last_push_at, now)) }
                                    td { (when(d.last_pull_at, now)) }
                                    td.num { (d.blob_count) }
                                    td.num { (bytes(d.sealed_bytes)) }
                                    td { @if d.revoked { strong.revoked { "Revoked" } } @else { "Active" } }
                                    td { @if !d.revoked {
                                        a href=(paths::revoke(&lid, &d.device_id)) { "Revoke…" span.sr { " " (d.name) } }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
        (push_chart(&days, today))
    };
    html_page(
        StatusCode::OK,
        page(&format!("License {lid}"), Some(&s.csrf), body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, created: i64, bytes: u64, revoked: bool) -> DeviceInfo {
        DeviceInfo {
            device_id: format!("dev_{name}"),
            name: name.into(),
            created_at: created,
            last_push_at: None,
            last_pull_at: None,
            blob_count: 0,
            sealed_bytes: bytes,
            revoked,
        }
    }

    #[test]
    fn the_sort_query_picks_a_column_and_a_direction() {
        assert!(sort_of(None) == (Column::Created, false));
        assert!(sort_of(Some("sort=bytes")) == (Column::Bytes, false));
        assert!(sort_of(Some("x=1&sort=-name")) == (Column::Name, true));
        assert!(sort_of(Some("sort=%3Cscript%3E")) == (Column::Created, false));
        let mut d = vec![
            dev("b", 1, 5, false),
            dev("A", 2, 9, true),
            dev("c", 3, 1, false),
        ];
        sort_devices(&mut d, Column::Bytes, true);
        assert_eq!(d[0].name, "A");
        sort_devices(&mut d, Column::Name, false);
        assert_eq!(
            d.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["A", "b", "c"]
        );
        sort_devices(&mut d, Column::Revoked, false);
        assert_eq!(d[2].name, "A");
    }
}
