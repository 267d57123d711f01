//! `status`: device id, relay, last sync, unsynced changes, quarantine,
//! relay-integrity problems.

use std::path::Path;

use azmx_sync_core::engine::{relay_transport_security, IntegrityKind, RelayTransportSecurity};
use serde_json::json;

use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::relay_tls::RelayTls;
use crate::render::{self, print_json, Style};
use crate::secret_store;
use crate::Ctx;

/// How the relay is reached: TLS and whom it trusts, or a warning for
/// plain HTTP (on this machine: unencrypted but local; to another machine:
/// only with --allow-insecure-http, or refused).
fn transport_row(s: &Style, state_dir: &Path, url: &str) -> String {
    let tls = RelayTls::effective(state_dir);
    match relay_transport_security(url) {
        Ok(RelayTransportSecurity::Tls) => match &tls.ca_file {
            Some(ca) => format!("TLS, trusting only the CA in {}", ca.display()),
            None => "TLS, trusting the system's CA store".into(),
        },
        Ok(RelayTransportSecurity::LoopbackHttp) => {
            s.yellow("plain HTTP, unencrypted (this machine only)")
        }
        Ok(RelayTransportSecurity::InsecureHttp) if tls.allow_insecure_http => s.red(
            "plain HTTP to another machine (--allow-insecure-http): the license key and \
             metadata cross the network unencrypted",
        ),
        Ok(RelayTransportSecurity::InsecureHttp) => s.red(
            "plain HTTP to another machine: refused; use the relay's https:// URL (init again)",
        ),
        Err(_) => s.red("not an http(s) URL"),
    }
}

fn transport_json(state_dir: &Path, url: Option<&str>) -> serde_json::Value {
    let tls = RelayTls::effective(state_dir);
    let security = url
        .and_then(|u| relay_transport_security(u).ok())
        .map(|k| match k {
            RelayTransportSecurity::Tls => "tls",
            RelayTransportSecurity::LoopbackHttp => "loopbackHttp",
            RelayTransportSecurity::InsecureHttp => "insecureHttp",
        });
    json!({
        "security": security,
        "caFile": tls.ca_file,
        "allowInsecureHttp": tls.allow_insecure_http,
    })
}

pub fn status(ctx: &Ctx) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let st = dev.engine.status();
    if st.device_id.is_none() {
        return Err(CliError::not_initialised());
    }
    let unsynced = dev.engine.unsynced().map_err(|e| dev.sync_err(e))?;
    if ctx.json {
        let mut v = serde_json::to_value(&st).unwrap_or_default();
        v["unsynced"] = serde_json::to_value(&unsynced).unwrap_or_default();
        v["stateDir"] = json!(ctx.state_dir);
        v["transport"] = transport_json(&ctx.state_dir, st.relay_url.as_deref());
        v["keyKept"] = json!(secret_store::marker(&ctx.state_dir).is_some());
        print_json(&v);
        return Ok(());
    }
    let s = Style::stdout();
    let mut rows: Vec<(String, String)> = Vec::new();
    rows.push((
        "device".into(),
        format!(
            "{}  {}",
            s.bold(st.device_name.as_deref().unwrap_or("?")),
            st.device_id.clone().unwrap_or_default()
        ),
    ));
    rows.push((
        "relay".into(),
        format!(
            "{}  (license {})",
            st.relay_url.clone().unwrap_or_default(),
            st.license_id.clone().unwrap_or_default()
        ),
    ));
    if let Some(url) = st.relay_url.as_deref() {
        rows.push(("transport".into(), transport_row(&s, &ctx.state_dir, url)));
    }
    rows.push(("state".into(), ctx.state_dir.display().to_string()));
    // From the marker only: status never opens the secret store (it may be
    // locked, or ask the user).
    let key = match secret_store::marker(&ctx.state_dir) {
        Some(_) => format!(
            "kept in {} (init --remember or login)",
            secret_store::store_name()
        ),
        None => s.dim("asked for at each command (init --remember or login keeps it)"),
    };
    rows.push(("key".into(), key));
    let last = match &st.last_cycle {
        None => s.dim("never"),
        Some(c) if c.ok => format!(
            "{}, {} ({} ms)",
            s.green("ok"),
            render::ago(c.at_ms),
            c.duration_ms
        ),
        Some(c) => format!(
            "{} ({}), {}{}",
            s.red("failed"),
            c.error_code.as_deref().unwrap_or("error"),
            render::ago(c.at_ms),
            st.last_success_ms
                .map(|t| format!("; last success {}", render::ago(t)))
                .unwrap_or_else(|| "; never succeeded".into())
        ),
    };
    rows.push(("last sync".into(), last));
    rows.push((
        "unsynced".into(),
        if unsynced.count == 0 {
            "none".into()
        } else {
            format!(
                "{}, oldest {}",
                s.yellow(&render::plural(unsynced.count, "change", "changes")),
                unsynced
                    .oldest_updated_at_ms
                    .map(render::ago)
                    .unwrap_or_default()
            )
        },
    ));
    if st.outbox_pending {
        rows.push((
            "outbox".into(),
            s.yellow("1 push sealed and waiting; the next sync sends it"),
        ));
    }
    let q_live = st.quarantine.iter().filter(|q| !q.gave_up).count();
    rows.push((
        "quarantine".into(),
        if st.quarantine.is_empty() {
            "none".into()
        } else {
            s.red(&format!(
                "{} ({} retried each sync, {} given up)",
                render::plural(st.quarantine.len() as u64, "bundle", "bundles"),
                q_live,
                st.quarantine.len() - q_live
            ))
        },
    ));
    rows.push((
        "integrity".into(),
        match &st.last_integrity_problem {
            None => "no relay problem seen".into(),
            Some(p) if p.problem.kind == IntegrityKind::AuthorityChanged => s.red(&format!(
                "{}; last {}: the relay {}, {}",
                render::plural(st.integrity_problems, "problem", "problems"),
                p.problem.kind.as_str(),
                render::authority_change(&p.problem),
                render::ago(p.at_ms)
            )),
            Some(p) => s.red(&format!(
                "{}; last {} ({} seq {}), {}",
                render::plural(st.integrity_problems, "problem", "problems"),
                p.problem.kind.as_str(),
                p.problem.device_id,
                p.problem.seq,
                render::ago(p.at_ms)
            )),
        },
    ));
    if st.clock_offset_secs != 0 {
        rows.push((
            "clock".into(),
            format!(
                "corrected: the relay's clock is {} s {} this machine's",
                st.clock_offset_secs.abs(),
                if st.clock_offset_secs > 0 {
                    "ahead of"
                } else {
                    "behind"
                }
            ),
        ));
    }
    if st.revoked {
        rows.push((
            "revoked".into(),
            s.red("yes: this device can no longer sync"),
        ));
    }
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &rows {
        println!("{}  {v}", s.dim(&format!("{k:<w$}")));
    }
    for q in &st.quarantine {
        println!(
            "{}  {} seq {}: {} ({}{})",
            " ".repeat(w),
            q.device_id,
            q.seq,
            q.reason,
            render::plural(q.attempts as u64, "attempt", "attempts"),
            if q.gave_up { ", given up" } else { "" }
        );
    }
    Ok(())
}
