//! Activity events for people: a sentence for those that deserve attention
//! (on stderr after a sync), and one aligned line per event (`activity`).
//! How much an event matters is the core's [`EventKind::severity`].

use azmx_sync_core::engine::{ActivityEvent, EventKind, IntegrityKind, IntegrityProblem, Severity};

use super::{bytes, plural, utc, Style};

fn short(h: &str) -> String {
    h.chars().take(12).collect::<String>() + "…"
}

fn is_warning(kind: &EventKind) -> bool {
    kind.severity() != Severity::Info
}

/// A sentence for an event that deserves the user's attention.
fn notice(e: &ActivityEvent) -> Option<String> {
    Some(match &e.kind {
        EventKind::BlobIntegrityError {
            device_id,
            seq,
            expected,
            actual,
        } => format!(
            "blobIntegrityError: bundle {seq} from {device_id} is corrupt on the relay \
             (SHA-256 {} expected, {} stored); it is quarantined and retried on later \
             syncs, and the rest of the pull applied",
            short(expected),
            short(actual)
        ),
        EventKind::DecryptFailed { device_id, seq } => format!(
            "bundle {seq} from {device_id} could not be decrypted (sealed with another \
             receipt?); quarantined"
        ),
        EventKind::ContextMismatch {
            device_id,
            seq,
            field,
        } => format!(
            "bundle {seq} from {device_id} does not belong where the relay served it \
             ({field} differs); quarantined, nothing from it applied"
        ),
        EventKind::BundleInvalid {
            device_id,
            seq,
            reason,
        } => format!("bundle {seq} from {device_id} is invalid ({reason}); quarantined"),
        EventKind::QuarantineGaveUp {
            device_id,
            seq,
            reason,
        } => format!(
            "gave up on bundle {seq} from {device_id} ({reason}) after repeated failures; \
             the other device's later checkpoint will carry its records"
        ),
        EventKind::QuarantineEvicted {
            device_id,
            seq,
            reason,
        } => format!(
            "dropped bundle {seq} from {device_id} ({reason}) from the quarantine, which is \
             full; the other device's later checkpoint will carry its records"
        ),
        EventKind::RecordRejected {
            store, id, reason, ..
        } => {
            format!("incoming {store} record `{id}` rejected ({reason}); the local copy was kept")
        }
        EventKind::RecordTooLarge {
            store,
            id,
            bytes,
            max_bytes,
        } => format!(
            "{store} record `{id}` ({bytes} bytes) is over the {max_bytes}-byte push limit: \
             kept on this device, not synced"
        ),
        EventKind::QuarantineCleared { device_id, seq } => {
            format!("bundle {seq} from {device_id} applied after an earlier failure")
        }
        EventKind::ClockCorrected { offset_secs } => format!(
            "clock skew corrected: the relay's clock is {} s {} this machine's; requests \
             now use the relay's time",
            offset_secs.abs(),
            if *offset_secs > 0 {
                "ahead of"
            } else {
                "behind"
            }
        ),
        EventKind::UnknownStore { store, .. } => {
            format!("ignored records of store `{store}`, which this version does not know")
        }
        EventKind::RelayIntegrity(p) if p.kind == IntegrityKind::AuthorityChanged => format!(
            "relayIntegrity: the relay {}; this device keeps signing with its key and \
             sends nothing unsigned",
            authority_change(p)
        ),
        EventKind::RelayIntegrity(p) => {
            let (d, seq, held) = (&p.device_id, p.seq, p.held_seq);
            let what = match p.kind {
                IntegrityKind::Gap => format!("left out a bundle of {d} before its bundle {seq}"),
                IntegrityKind::Reorder => {
                    format!("listed bundle {seq} of {d} after its later bundle {held}")
                }
                IntegrityKind::Rollback => {
                    format!("served checkpoint {seq} of {d} after its newer checkpoint {held}")
                }
                IntegrityKind::Withheld => format!(
                    "hid bundles of {d} up to {seq}, which another device has seen \
                     (this one has up to {held})"
                ),
                IntegrityKind::MissingCheckpoint => {
                    format!("listed bundle {seq} of {d} without the checkpoint before it")
                }
                IntegrityKind::AuthorityChanged => authority_change(p),
            };
            format!(
                "relayIntegrity: the relay {what}; what it served was applied and nothing \
                 was deleted"
            )
        }
        _ => return None,
    })
}

/// The events that deserve attention, on stderr: warnings, then notes.
pub fn print_notices(events: &[ActivityEvent]) {
    let s = Style::stderr();
    for e in events {
        if let Some(text) = notice(e) {
            if is_warning(&e.kind) {
                eprintln!("{} {text}", s.yellow(&s.bold("warning:")));
            } else {
                eprintln!("{} {text}", s.cyan("note:"));
            }
        }
    }
}

/// One event as a short aligned line: time, type, details.
pub fn event_line(e: &ActivityEvent) -> String {
    let s = Style::stdout();
    let name = e.type_name();
    let detail = match &e.kind {
        EventKind::CycleStarted { trigger } => trigger.clone(),
        EventKind::CycleFinished {
            duration_ms,
            pushed,
            pulled_blobs,
            ok,
        } => format!(
            "{} · {}pulled {} · {duration_ms} ms",
            if *ok { "ok" } else { "failed" },
            if *pushed { "pushed · " } else { "" },
            pulled_blobs
        ),
        EventKind::Pushed {
            seq,
            sealed_bytes,
            records,
            checkpoint,
        } => format!(
            "seq {seq} · {} · {}{}",
            plural(*records, "record", "records"),
            bytes(*sealed_bytes),
            if *checkpoint { " · checkpoint" } else { "" }
        ),
        EventKind::Pulled { blobs } => plural(*blobs, "bundle", "bundles"),
        EventKind::Applied {
            store,
            inserted,
            updated,
            deleted,
            kept_local,
            rejected,
            ..
        } => format!(
            "{store}: +{inserted} ~{updated} -{deleted} · kept local {kept_local} · rejected {rejected}"
        ),
        EventKind::Registered { device_id } => device_id.clone(),
        EventKind::Pruned {
            checkpoint_seq,
            pruned,
        } => format!("{pruned} superseded by checkpoint {checkpoint_seq}"),
        EventKind::NetworkError { message } => message.clone(),
        EventKind::RelayError { status, code } => format!("{status} {code}"),
        EventKind::RateLimited { retry_after_secs } => format!("retry after {retry_after_secs} s"),
        EventKind::StoreError { store, message } => format!("{store}: {message}"),
        EventKind::Exported { records, bytes: n } => {
            format!("{} · {}", plural(*records, "record", "records"), bytes(*n))
        }
        EventKind::Imported { records } => plural(*records, "change", "changes"),
        EventKind::Quarantined {
            device_id,
            seq,
            reason,
            attempts,
        } => format!("{device_id} seq {seq} · {reason} · attempt {attempts}"),
        EventKind::CycleSkipped { reason } => format!("{reason:?}").to_lowercase(),
        EventKind::PushRetried { seq } => format!("seq {seq}"),
        EventKind::SeqResynced { last_seq } => format!("relay's last seq {last_seq}"),
        _ => notice(e)
            .map(|t| t.split_once(": ").map_or(t.clone(), |(_, r)| r.to_string()))
            .unwrap_or_default(),
    };
    let padded = format!("{name:<19}");
    let name = if is_warning(&e.kind) {
        s.yellow(&padded)
    } else {
        padded
    };
    format!("{}  {name}  {detail}", s.dim(&utc(e.at_ms)))
        .trim_end()
        .to_string()
}

/// What the relay answered for the license's authority key against the one
/// this device keeps (PROTOCOL §11.5 step 3), by fingerprint.
pub fn authority_change(p: &IntegrityProblem) -> String {
    let kept = p.expected_authority.as_deref().unwrap_or("?");
    match &p.found_authority {
        Some(found) => format!(
            "answered another license authority key for {} ({found}) than the one this \
             device keeps ({kept})",
            p.device_id
        ),
        None => format!(
            "answered that license {} has no authority key; this device keeps {kept}",
            p.device_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarantine_eviction_is_a_warning() {
        let e = ActivityEvent {
            at_ms: 0,
            kind: EventKind::QuarantineEvicted {
                device_id: "dev_x".into(),
                seq: 7,
                reason: "decrypt_failed".into(),
            },
        };
        let text = notice(&e).expect("evictions are shown");
        assert!(is_warning(&e.kind));
        assert!(text.contains("bundle 7 from dev_x"), "{text}");
    }

    #[test]
    fn every_noticed_event_keeps_its_old_warning_or_note() {
        // The CLI's own list before severity moved to the core: the notes.
        let notes = [
            EventKind::QuarantineCleared {
                device_id: "d".into(),
                seq: 1,
            },
            EventKind::ClockCorrected { offset_secs: 3 },
            EventKind::UnknownStore {
                store: "x".into(),
                device_id: "d".into(),
                seq: 1,
            },
        ];
        for kind in notes {
            assert!(!is_warning(&kind), "{kind:?}");
        }
    }
}
