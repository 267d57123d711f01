// Seal a snippet the way a device does before a push, and read it back.
//
//     examples/swift/run.sh            (Linux: in the trixie chroot of bindings/swift/chroot.sh)
//
// Uses the crypto surface of the AzmxSync bindings: the envelope key (derived
// from the recovery receipt, never exported), the device identity (private
// key stays in its 0600 file), blob integrity and the signed push canonical,
// then merges the snippet into a local store. The two-device relay version
// comes with the sync engine bindings.

import AzmxSync
import Foundation

let env = ProcessInfo.processInfo.environment
let key = try EnvelopeKey.derive(receipt: env["AZMX_RECEIPT"] ?? "demo-recovery-receipt-0000",
                                 licenseId: env["AZMX_LICENSE"] ?? "lic_demo")
let home = FileManager.default.temporaryDirectory.appendingPathComponent("azmx-example-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: home) }

let device = try DeviceIdentity.loadOrCreate(path: home.appendingPathComponent("device.key").path)
print("device \(device.fingerprint())  key \(key)")

let snippet = SyncRecord(id: "greeting", scope: "alice", updatedAt: Int64(Date().timeIntervalSince1970 * 1000),
                         version: nil, deleted: false, deviceId: "dev_laptop",
                         body: "{\"text\":\"Hello from Swift\"}")
let plaintext = Data("{\"snippets\":[\(snippet.body!)]}".utf8)
let blob = key.seal(plaintext: plaintext)
let sha = sha256Hex(data: blob)
let now = Int64(Date().timeIntervalSince1970)
let canonical = "push|dev_laptop|1|\(sha)|\(now)"
let signature = try device.signCanonical(canonical: canonical)
print("sealed \(plaintext.count) -> \(blob.count) bytes, sha256 \(sha.prefix(16))...")

// What the relay checks, and what the other device does on pull.
_ = try verifySigned(publicKey: device.publicKey(), canonical: canonical, signature: signature, now: now)
try verifyBlob(expectedSha256Hex: sha, blob: blob)
let opened = try key.open(blob: blob)
precondition(opened == plaintext)
var corrupted = blob
corrupted[corrupted.count - 1] ^= 0xff
do {
    try verifyBlob(expectedSha256Hex: sha, blob: corrupted)
} catch SyncError.BlobIntegrityError {
    print("a corrupted blob is a BlobIntegrityError, not a decrypt failure")
}

let out = try mergeRecords(store: try builtinStore(name: "snippets"), local: [], incoming: [snippet])
for change in out.changes {
    print("\(change.op) \(change.record.scope ?? "")/\(change.record.id): \(change.record.body ?? "")")
}
