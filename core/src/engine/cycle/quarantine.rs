//! The quarantine's bound: bad blobs are retried a few times, and the list
//! of them never grows without limit whatever a peer or the relay sends.

use crate::engine::events::EventKind;
use crate::engine::state::{QuarantineEntry, MAX_GAVE_UP_ENTRIES, MAX_QUARANTINE_ENTRIES};
use crate::engine::SyncEngine;

/// Keeps the quarantine bounded whatever a peer or the relay lists: at most
/// [`MAX_GAVE_UP_ENTRIES`] given-up entries and [`MAX_QUARANTINE_ENTRIES`] in
/// all, oldest given-up entries evicted first. Each eviction is reported.
pub(super) fn bound_quarantine(engine: &SyncEngine, quarantine: &mut Vec<QuarantineEntry>) {
    let gave_up = quarantine.iter().filter(|q| q.gave_up).count();
    let mut evict_gave_up = gave_up.saturating_sub(MAX_GAVE_UP_ENTRIES);
    let mut evict_total = quarantine.len().saturating_sub(MAX_QUARANTINE_ENTRIES);
    if evict_gave_up == 0 && evict_total == 0 {
        return;
    }
    let mut evicted = Vec::new();
    // Oldest first: given-up entries, then (if still over) any entry.
    quarantine.retain(|q| {
        let go = q.gave_up && (evict_gave_up > 0 || evict_total > 0);
        if go {
            evict_gave_up = evict_gave_up.saturating_sub(1);
            evict_total = evict_total.saturating_sub(1);
            evicted.push(q.clone());
        }
        !go
    });
    if evict_total > 0 {
        let drained: Vec<QuarantineEntry> = quarantine.drain(..evict_total).collect();
        evicted.extend(drained);
    }
    for q in evicted {
        engine.emit(EventKind::QuarantineEvicted {
            device_id: q.device_id,
            seq: q.seq,
            reason: q.reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64, gave_up: bool) -> QuarantineEntry {
        QuarantineEntry {
            device_id: format!("dev{i}"),
            seq: i,
            sha256: "0".repeat(64),
            reason: "blob_integrity".into(),
            attempts: 3,
            gave_up,
            created_at: 0,
        }
    }

    #[test]
    fn each_eviction_is_reported_as_quarantine_evicted() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = SyncEngine::new(
            crate::engine::EngineConfig::new(tmp.path()),
            std::sync::Arc::new(crate::engine::UreqTransport::new(
                std::time::Duration::from_secs(1),
            )),
        )
        .unwrap();
        // 100 given up (36 over their bound) and 200 others: 300 in all,
        // 44 over, so the 44 oldest given-up entries go.
        let mut q: Vec<QuarantineEntry> = (0..300).map(|i| entry(i, i < 100)).collect();
        bound_quarantine(&engine, &mut q);
        assert_eq!(q.len(), MAX_QUARANTINE_ENTRIES);
        let evicted: Vec<EventKind> = engine
            .recent_activity(512)
            .into_iter()
            .filter(|e| e.type_name() == "quarantineEvicted")
            .map(|e| e.kind)
            .collect();
        assert_eq!(evicted.len(), 44);
        let json = serde_json::to_value(&evicted[0]).unwrap();
        assert_eq!(json["deviceId"], "dev0");
        assert_eq!(json["seq"], 0);
        assert_eq!(json["reason"], "blob_integrity");
        assert!(engine
            .recent_activity(512)
            .iter()
            .all(|e| e.type_name() != "quarantineGaveUp"));
    }
}
