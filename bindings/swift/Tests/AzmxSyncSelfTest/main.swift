// Swift tests of the AzmxSync bindings against the real libazmx_sync.
// A tiny runner (no XCTest): one `test` per case, a summary line with
// pass/fail counts, exit status 1 on any failure.
// Run by scripts/test.d/60-swift.sh (swiftc in a Debian trixie chroot).

import AzmxSync
import Foundation

#if canImport(Glibc)
import Glibc
#endif

var passed = 0
var failures: [String] = []

struct Failure: Error, CustomStringConvertible {
    let description: String
}

func test(_ name: String, _ body: () throws -> Void) {
    do {
        try body()
        passed += 1
        print("  ok   \(name)")
    } catch {
        failures.append(name)
        print("  FAIL \(name): \(error)")
    }
}

func check(_ cond: Bool, _ msg: @autoclosure () -> String = "check failed", line: Int = #line) throws {
    if !cond { throw Failure(description: "line \(line): \(msg())") }
}

func eq<T: Equatable>(_ a: T, _ b: T, line: Int = #line) throws {
    if a != b { throw Failure(description: "line \(line): expected <\(b)>, got <\(a)>") }
}

/// Runs `body`, which must throw a SyncError accepted by `match`.
func throwsSync(_ body: () throws -> Void, line: Int = #line, _ match: (SyncError) -> Bool) throws {
    do {
        try body()
    } catch let e as SyncError {
        if match(e) { return }
        throw Failure(description: "line \(line): unexpected SyncError \(e)")
    } catch {
        throw Failure(description: "line \(line): not a SyncError: \(error)")
    }
    throw Failure(description: "line \(line): nothing thrown")
}

func randomData(_ n: Int) -> Data {
    var g = SystemRandomNumberGenerator()
    return Data((0..<n).map { _ in UInt8.random(in: 0...255, using: &g) })
}

func tempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("azmx-swift-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.path
}

func b64urlDecode(_ s: String) -> Data? {
    var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while t.count % 4 != 0 { t += "=" }
    return Data(base64Encoded: t)
}

func hex(_ d: Data) -> String { d.map { String(format: "%02x", $0) }.joined() }

let RECEIPT = "azmx-receipt-7Hq2-Secret-Value"
let LICENSE = "lic_test_01"
let SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func snip(_ id: String, _ at: Int64, _ dev: String, _ text: String?, scope: String? = "alice", deleted: Bool = false) -> SyncRecord {
    SyncRecord(id: id, scope: scope, updatedAt: at, version: nil, deleted: deleted, deviceId: dev,
               body: deleted ? nil : "{\"text\":\"\(text ?? "")\"}")
}

let key = try! EnvelopeKey.derive(receipt: RECEIPT, licenseId: LICENSE)
let otherKey = try! EnvelopeKey.derive(receipt: "a different receipt", licenseId: LICENSE)

print("EnvelopeKey")
test("derive trims ASCII whitespace only") {
    try check(try EnvelopeKey.derive(receipt: " \t\(RECEIPT)\r\n", licenseId: LICENSE) == key)
    try check(try EnvelopeKey.derive(receipt: "\u{a0}\(RECEIPT)", licenseId: LICENSE) != key)
}
test("empty receipt / license id are typed") {
    try throwsSync({ _ = try EnvelopeKey.derive(receipt: " \n", licenseId: LICENSE) }) { $0 == .EmptyReceipt }
    try throwsSync({ _ = try EnvelopeKey.derive(receipt: RECEIPT, licenseId: "") }) { $0 == .EmptyLicenseId }
}
test("key prints nothing secret") {
    try eq(key.description, "EnvelopeKey(<redacted>)")
    try eq(key.debugDescription, "EnvelopeKey(<redacted>)")
    try eq("\(key)", "EnvelopeKey(<redacted>)")
    let dumped = String(reflecting: key)
    try check(!dumped.contains(RECEIPT) && !dumped.contains(LICENSE), dumped)
}
test("seal/open round trip, fresh IV") {
    for msg in [Data(), Data("x".utf8), Data("hello snippets".utf8), randomData(5000)] {
        let blob = key.seal(plaintext: msg)
        try eq(blob.count, msg.count + 29)
        try eq(blob.first, 1)
        try eq(try key.open(blob: blob), msg)
        try check(key.seal(plaintext: msg) != blob)
    }
}
test("text form is unpadded base64url") {
    let text = key.sealText(plaintext: Data("\u{fb} snippet".utf8))
    try check(!text.contains("=") && !text.contains("+") && !text.contains("/"))
    try eq(try key.open(blob: b64urlDecode(text)!), Data("\u{fb} snippet".utf8))
    try eq(try key.openText(text: text), Data("\u{fb} snippet".utf8))
    try throwsSync({ _ = try key.openText(text: text + "=") }) { $0 == .InvalidBase64 }
}
test("open errors in check order, typed") {
    try throwsSync({ _ = try key.open(blob: Data(repeating: 1, count: 28)) }) { $0 == .EnvelopeTooShort(len: 28) }
    try throwsSync({ _ = try key.open(blob: Data(repeating: 2, count: 29)) }) { $0 == .UnsupportedVersion(version: 2) }
    var blob = key.seal(plaintext: Data("secret plaintext".utf8))
    try throwsSync({ _ = try otherKey.open(blob: blob) }) { e in
        if case .DecryptFailed = e { return !"\(e)".contains("secret plaintext") }
        return false
    }
    blob[blob.count - 1] ^= 1
    try throwsSync({ _ = try key.open(blob: blob) }) { $0 == .DecryptFailed }
}
test("sha256Hex and verifyBlob (BlobIntegrityError is not DecryptFailed)") {
    let blob = key.seal(plaintext: Data("payload".utf8))
    let digest = sha256Hex(data: blob)
    try eq(digest.count, 64)
    try verifyBlob(expectedSha256Hex: digest, blob: blob)
    var corrupted = blob
    corrupted[5] ^= 0x80
    try throwsSync({ try verifyBlob(expectedSha256Hex: digest, blob: corrupted) }) { e in
        if case let .BlobIntegrityError(expected, actual) = e {
            return expected == digest && actual == sha256Hex(data: corrupted)
        }
        return false
    }
    try eq(sha256Hex(data: Data()), SHA_EMPTY)
}
test("engine errors exist as distinct cases") {
    let all: [SyncError] = [.WrongReceipt, .Revoked, .DecryptFailed, .BlobIntegrityError(expected: "a", actual: "b"),
                            .ClockSkew(skewSecs: 1, maxSecs: 0), .HostCallback(reason: "x")]
    try eq(Set(all).count, all.count)
}

print("DeviceIdentity")
test("loadOrCreate persists a 0600 key file") {
    let path = try tempDir() + "/device.key"
    let a = try DeviceIdentity.loadOrCreate(path: path)
    let attrs = try FileManager.default.attributesOfItem(atPath: path)
    try eq((attrs[.posixPermissions] as! NSNumber).intValue, 0o600)
    let b = try DeviceIdentity.loadOrCreate(path: path)
    let c = try DeviceIdentity.load(path: path)
    try eq(a.publicKey(), b.publicKey())
    try eq(b.publicKey(), c.publicKey())
    try eq(b64urlDecode(a.publicKey())?.count, 32)
    try eq(a.fingerprint().count, 19)
    try eq(try fingerprintOf(publicKey: a.publicKey()), a.fingerprint())
}
test("identity prints no private key") {
    let path = try tempDir() + "/device.key"
    let id = try DeviceIdentity.loadOrCreate(path: path)
    let seed = try Data(contentsOf: URL(fileURLWithPath: path))[8..<40]
    let text = "\(id) \(String(reflecting: id))"
    try check(text.contains("<redacted>") && text.contains(id.publicKey()), text)
    for enc in [hex(Data(seed)), Data(seed).base64EncodedString()] {
        try check(!text.contains(enc))
    }
}
test("key file problems are typed") {
    let dir = try tempDir()
    try throwsSync({ _ = try DeviceIdentity.loadOrCreate(path: dir + "/missing-dir/device.key") }) { e in
        if case let .KeyFile(path, problem) = e { return problem == .missingDirectory && path.contains("missing-dir") }
        return false
    }
    let path = dir + "/device.key"
    try throwsSync({ _ = try DeviceIdentity.load(path: path) }) { e in
        if case .KeyFile(_, .io) = e { return true }
        return false
    }
    _ = try DeviceIdentity.loadOrCreate(path: path)
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    try throwsSync({ _ = try DeviceIdentity.loadOrCreate(path: path) }) { e in
        if case .KeyFile(_, .insecurePermissions(mode: 0o644)) = e { return true }
        return false
    }
    try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[20] ^= 1
    try bytes.write(to: URL(fileURLWithPath: path))
    try throwsSync({ _ = try DeviceIdentity.load(path: path) }) { e in
        if case .KeyFile(_, .corrupt) = e { return true }
        return false
    }
}
test("sign canonicals and verify; typed verify errors") {
    let dir = try tempDir()
    let id = try DeviceIdentity.loadOrCreate(path: dir + "/a.key")
    let other = try DeviceIdentity.loadOrCreate(path: dir + "/b.key")
    let now = Int64(Date().timeIntervalSince1970)
    let c = "push|dev_1|42|\(SHA_EMPTY)|\(now)"
    let sig = try id.signCanonical(canonical: c)
    try eq(b64urlDecode(sig)?.count, 64)
    try eq(try verifySigned(publicKey: id.publicKey(), canonical: c, signature: sig, now: now + 10),
           VerifiedRequest(verb: "push", deviceId: "dev_1", ts: now))
    for bad in ["anything goes", "push|dev_1|01|\(SHA_EMPTY)|1", ""] {
        try throwsSync({ _ = try id.signCanonical(canonical: bad) }) { e in
            if case .MalformedField = e { return true }
            return false
        }
    }
    let c2 = "devices|dev_1|1700000000"
    let sig2 = try id.signCanonical(canonical: c2)
    try throwsSync({ _ = try verifySigned(publicKey: other.publicKey(), canonical: c2, signature: sig2, now: 1_700_000_000) }) {
        $0 == .BadSignature
    }
    try throwsSync({ _ = try verifySigned(publicKey: id.publicKey(), canonical: c2, signature: sig2, now: 1_700_000_301) }) {
        $0 == .ClockSkew(skewSecs: -301, maxSecs: 300)
    }
    try eq(try verifySigned(publicKey: id.publicKey(), canonical: c2, signature: sig2, now: 1_700_000_301, maxSkewSecs: 400).ts,
           1_700_000_000)
}

print("merge")
test("built-in stores") {
    try eq(Set(builtinStores().map { $0.name }), ["snippets", "todos", "memory"])
    try eq(try builtinStore(name: "memory"), StoreSpec(name: "memory", contract: .lwwByVersion, validator: .noScope))
    try throwsSync({ _ = try builtinStore(name: "chats") }) { $0 == .UnknownStore(name: "chats") }
}
test("snippets: LWW per id, additive, idempotent") {
    let spec = try builtinStore(name: "snippets")
    let local = [snip("a", 100, "laptop", "mine"), snip("b", 100, "laptop", "old b")]
    let incoming = [snip("b", 200, "desktop", "new b"), snip("c", 50, "desktop", "peer only"), snip("a", 10, "desktop", "stale")]
    let out = try mergeRecords(store: spec, local: local, incoming: incoming)
    try eq(out.state.map { $0.id }, ["a", "b", "c"])
    try eq(out.state[0].body, "{\"text\":\"mine\"}")
    try eq(out.changes.map { "\($0.op):\($0.record.id)" }, ["update:b", "insert:c"])
    try eq(out.counts, MergeCounts(applied: 2, keptLocal: 1, rejectedInvalid: 0, unchanged: 0))
    let again = try mergeRecords(store: spec, local: out.state, incoming: incoming.reversed())
    try eq(again.changes, [])
    try eq(again.state, out.state)
}
test("tombstones, memory versions, todos validation, rejections") {
    let snippets = try builtinStore(name: "snippets")
    let local = [snip("a", 100, "laptop", "x")]
    let del = try mergeRecords(store: snippets, local: local, incoming: [snip("a", 200, "desktop", nil, deleted: true)])
    try eq(del.changes.map { $0.op }, [.delete])
    try eq(try mergeRecords(store: snippets, local: local, incoming: []).state, local)
    let memory = try builtinStore(name: "memory")
    func m(_ v: UInt64?, _ at: Int64, _ f: String) -> SyncRecord {
        SyncRecord(id: "m1", scope: nil, updatedAt: at, version: v, deleted: false, deviceId: "d", body: "{\"fact\":\"\(f)\"}")
    }
    try eq(try mergeRecords(store: memory, local: [m(5, 1000, "v5")], incoming: [m(6, 1, "v6")]).state[0].body, "{\"fact\":\"v6\"}")
    try eq(try mergeRecords(store: memory, local: [], incoming: [m(nil, 1, "x")]).rejected.map { $0.reason }, [.missingVersion])
    let todos = try builtinStore(name: "todos")
    let bad = SyncRecord(id: "s2", scope: nil, updatedAt: 10, version: nil, deleted: false, deviceId: "d",
                         body: "{\"items\":[{\"id\":\"1\",\"content\":\"a\",\"status\":\"in_progress\"},{\"id\":\"2\",\"content\":\"b\",\"status\":\"in_progress\"}]}")
    try eq(try mergeRecords(store: todos, local: [], incoming: [bad]).rejected.map { $0.reason },
           [.invalidTodos(problem: .multipleInProgress(index: 1))])
    try throwsSync({ _ = try mergeRecords(store: snippets, local: [], incoming: [SyncRecord(id: "b", scope: "s", updatedAt: 1, version: nil, deleted: false, deviceId: "d", body: "{oops")]) }) { e in
        if case let .InvalidJson(what, _, _) = e { return what == "incoming[0].body" }
        return false
    }
}
test("host-registered store and validateTodos") {
    let spec = StoreSpec(name: "bookmarks", contract: .lwwByTime, validator: .shapeOnly)
    try checkStoreSpec(spec: spec)
    let out = try mergeRecords(store: spec, local: [], incoming: [SyncRecord(id: "k", scope: nil, updatedAt: 5, version: nil, deleted: false, deviceId: "d1", body: "{\"url\": \"https://example.org\", \"n\": [1, 2]}")])
    try eq(out.state[0].body, "{\"n\":[1,2],\"url\":\"https://example.org\"}")
    try throwsSync({ try checkStoreSpec(spec: StoreSpec(name: "team-workspace", contract: .lwwByTime, validator: .shapeOnly)) }) {
        $0 == .InvalidStoreName(problem: .workspaceScoped)
    }
    try throwsSync({ try checkStoreSpec(spec: StoreSpec(name: "snippets", contract: .lwwByVersion, validator: .requireScope)) }) {
        $0 == .BuiltinStoreRedefined(name: "snippets")
    }
    try validateTodos(json: "{\"items\":[{\"id\":\"1\",\"content\":\"a\",\"status\":\"pending\"}]}")
    try throwsSync({ try validateTodos(json: "[]") }) { $0 == .InvalidTodos(problem: .notAnObject) }
}

// Informational: the uniffi path for bulk bytes (no Swift fast path yet).
do {
    let big = randomData(1 << 20)
    let t0 = Date()
    var blob = Data()
    for _ in 0..<10 { blob = key.seal(plaintext: big) }
    let t1 = Date()
    for _ in 0..<10 { _ = try? key.open(blob: blob) }
    let t2 = Date()
    print(String(format: "timing (informational, debug build): seal 1 MiB %.2f ms, open 1 MiB %.2f ms",
                 t1.timeIntervalSince(t0) * 100, t2.timeIntervalSince(t1) * 100))
}

engineTests()  // Engine.swift

print()
print("swift: \(passed) passed, \(failures.count) failed")
if !failures.isEmpty {
    print("failed: \(failures)")
    exit(1)
}
