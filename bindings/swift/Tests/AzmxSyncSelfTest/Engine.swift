// SyncEngine tests with a Swift store adapter, against a real relay on
// loopback. 60-swift.sh starts the relay (the workspace CLI's `relay serve`)
// outside the chroot and passes AZMX_RELAY_URL, AZMX_LICENSE_ID and
// AZMX_LICENSE_KEY; without them these tests are skipped. MemoryStore.swift
// is a link to the TwoDevices example's store adapter.

import AzmxSync
import Foundation

func engineTests() {
    let env = ProcessInfo.processInfo.environment
    guard let url = env["AZMX_RELAY_URL"], let lid = env["AZMX_LICENSE_ID"], let lkey = env["AZMX_LICENSE_KEY"] else {
        print("SyncEngine: skipped (no AZMX_RELAY_URL)")
        return
    }
    let receipt = "RCPT-swift-engine-7F3A-Secret"
    print("SyncEngine (relay \(url))")
    test("two devices converge (Swift adapter, built-in transport)") {
        var devices: [(SyncEngine, MemoryStore, String)] = []
        for name in ["swift-laptop", "swift-desktop"] {
            let engine = try SyncEngine(stateDir: try tempDir(), transport: nil)
            let store = MemoryStore()
            try engine.registerSnippets(adapter: store)
            let id = try engine.register(relayUrl: url, licenseId: lid, licenseKey: lkey, deviceName: name)
            try engine.setReceipt(receipt: receipt)
            try engine.verifyReceipt()
            devices.append((engine, store, id))
        }
        let (a, aStore, aId) = devices[0]
        let (b, bStore, bId) = devices[1]
        let t = Int64(Date().timeIntervalSince1970 * 1000)
        aStore.put(SyncRecord(id: "s1", scope: "alice", updatedAt: t, version: nil, deleted: false,
                              deviceId: aId, body: "{\"text\":\"hello from swift\"}"))
        let rep = try a.syncNow()
        try eq(rep.pushedRecords, 1)
        _ = try b.syncNow()
        try eq(bStore.get("alice/s1")?.body, "{\"text\":\"hello from swift\"}")
        bStore.put(SyncRecord(id: "s1", scope: "alice", updatedAt: t + 10, version: nil, deleted: true,
                              deviceId: bId, body: nil))
        _ = try b.syncNow()
        _ = try a.syncNow()
        try check(aStore.get("alice/s1")?.deleted == true, "tombstone did not arrive")
        try eq("\(a)", "SyncEngine(device_id=\(aId))")
        try check(!"\(a)".contains(receipt) && !"\(a)".contains(lkey))
        // A wrong receipt is a typed error.
        let c = try SyncEngine(stateDir: try tempDir(), transport: nil)
        _ = try c.register(relayUrl: url, licenseId: lid, licenseKey: lkey, deviceName: "swift-wrong")
        try c.setReceipt(receipt: "not the receipt")
        try throwsSync({ try c.verifyReceipt() }) { $0 == .WrongReceipt }
    }
}
