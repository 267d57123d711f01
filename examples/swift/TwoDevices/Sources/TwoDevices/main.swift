// Two devices, one local relay: a snippet written on one shows up on the other.
// examples/swift/two_devices.sh starts the relay and passes AZMX_RELAY_URL,
// AZMX_LICENSE_ID and AZMX_LICENSE_KEY. The store adapter is in MemoryStore.swift.

import AzmxSync
import Foundation

let env = ProcessInfo.processInfo.environment
guard let url = env["AZMX_RELAY_URL"], let lid = env["AZMX_LICENSE_ID"], let lkey = env["AZMX_LICENSE_KEY"] else {
    print("set AZMX_RELAY_URL, AZMX_LICENSE_ID and AZMX_LICENSE_KEY (examples/swift/two_devices.sh does)")
    exit(2)
}
print("relay at \(url)")
var devices: [(SyncEngine, MemoryStore, String)] = []
for name in ["laptop", "desktop"] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("azmx-swift-example-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let engine = try SyncEngine(stateDir: dir.path, transport: nil)
    let store = MemoryStore()
    try engine.registerSnippets(adapter: store)
    let id = try engine.register(relayUrl: url, licenseId: lid, licenseKey: lkey, deviceName: name)
    try engine.setReceipt(receipt: "RCPT-example-7F3A-99C2")
    try engine.verifyReceipt()
    print("\(name): \(engine)")
    devices.append((engine, store, id))
}
let (laptop, laptopStore, laptopId) = devices[0]
let (desktop, desktopStore, _) = devices[1]
laptopStore.put(SyncRecord(id: "greeting", scope: "alice", updatedAt: Int64(Date().timeIntervalSince1970 * 1000),
                           version: nil, deleted: false, deviceId: laptopId,
                           body: "{\"text\":\"hello from the Swift laptop\"}"))
print("laptop sync: \(try laptop.syncNow())")
print("desktop sync: \(try desktop.syncNow())")
guard let seen = desktopStore.get("alice/greeting") else {
    print("the desktop did not receive the snippet")
    exit(1)
}
print("desktop sees: \(seen.body ?? "") (written by \(seen.deviceId))")
