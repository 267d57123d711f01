// A store adapter kept in memory: records by "scope/id", tombstones kept
// (apply stores every record). bindings/swift/Tests/AzmxSyncSelfTest links
// to this file, so the Swift self-test runs the example's store.

import AzmxSync
import Foundation

final class MemoryStore: StoreAdapter, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [String: SyncRecord] = [:]

    func put(_ r: SyncRecord) {
        lock.lock(); defer { lock.unlock() }
        records["\(r.scope ?? "")/\(r.id)"] = r
    }

    func get(_ key: String) -> SyncRecord? {
        lock.lock(); defer { lock.unlock() }
        return records[key]
    }

    func snapshot() throws -> [SyncRecord] {
        lock.lock(); defer { lock.unlock() }
        return Array(records.values)
    }

    func apply(changes: [RecordChange]) throws {
        for c in changes { put(c.record) }
    }
}
