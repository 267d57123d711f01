// Kotlin/JVM tests of the uniffi SyncEngine with Kotlin host traits, against
// a real relay on loopback (the workspace CLI's `relay serve`, path in
// AZMX_SYNC_BIN). Run by scripts/test.d/50-kotlin.sh after AzmxSyncTest;
// prints `kotlin engine: N passed, M failed`.

import dev.azmx.sync.*
import java.io.File
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList

private var enginePassed = 0
private val engineFailures = mutableListOf<String>()

private fun etest(name: String, body: () -> Unit) {
    try {
        body()
        enginePassed++
        println("  ok   $name")
    } catch (t: Throwable) {
        engineFailures += name
        println("  FAIL $name: $t")
        t.stackTrace.take(6).forEach { println("         at $it") }
    }
}

private fun echeck(cond: Boolean, msg: () -> String = { "check failed" }) {
    if (!cond) throw AssertionError(msg())
}

private const val ENGINE_RECEIPT = "RCPT-kt-engine-7F3A-Secret"
private const val ENGINE_LICENSE = "lic_kt_engine"

private fun tmp(prefix: String): String = Files.createTempDirectory(prefix).toFile().absolutePath

/** A map-backed store; tombstones are kept (apply stores every record). */
class MapStore : StoreAdapter {
    val records = java.util.concurrent.ConcurrentHashMap<String, SyncRecord>()
    fun put(r: SyncRecord) { records["${r.scope}/${r.id}"] = r }
    fun live() = records.filterValues { !it.deleted }
    override fun snapshot(): List<SyncRecord> = records.values.toList()
    override fun apply(changes: List<RecordChange>) { changes.forEach { put(it.record) } }
}

class ThrowingStore : StoreAdapter {
    override fun snapshot(): List<SyncRecord> = throw IllegalStateException("disk on fire")
    override fun apply(changes: List<RecordChange>) = throw IllegalStateException("disk on fire")
}

class EventList : ActivityListener {
    val events = CopyOnWriteArrayList<ActivityEvent>()
    override fun onEvent(event: ActivityEvent) { events += event }
}

private fun snippet(dev: String, id: String, text: String?, at: Long, deleted: Boolean = false) =
    SyncRecord(id = id, scope = "alice", updatedAt = at, version = null, deleted = deleted, deviceId = dev,
        body = if (deleted) null else """{"text":"$text"}""")

fun main() {
    val exe = System.getenv("AZMX_SYNC_BIN") ?: "target/debug/azmx-sync"
    val data = tmp("azmx-kt-relay")
    val add = ProcessBuilder(exe, "relay", "license", "add", ENGINE_LICENSE, "--data-dir", data)
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    val licenseKey = add.inputStream.bufferedReader().readText().trim().split(Regex("\\s+")).last()
    check(add.waitFor() == 0) { "license add failed" }
    val relay = ProcessBuilder(exe, "relay", "serve", "--data-dir", data, "--listen", "127.0.0.1:0")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    val first = relay.inputStream.bufferedReader().readLine() ?: ""
    check(first.startsWith("listening on ")) { "relay: $first" }
    val url = first.split(" ").last()

    fun device(name: String, receipt: String = ENGINE_RECEIPT): Triple<SyncEngine, MapStore, String> {
        val engine = SyncEngine(tmp("azmx-kt-$name"), null)
        val store = MapStore()
        engine.registerSnippets(store)
        val id = engine.register(url, ENGINE_LICENSE, licenseKey, name)
        engine.setReceipt(receipt)
        return Triple(engine, store, id)
    }

    println("SyncEngine (relay $url)")
    try {
        val (a, aStore, aId) = device("kt-laptop")
        val (b, bStore, bId) = device("kt-desktop")
        etest("two devices converge (Kotlin adapter, built-in transport)") {
            a.verifyReceipt()
            b.verifyReceipt()
            val t = System.currentTimeMillis()
            aStore.put(snippet(aId, "s1", "hello from kotlin", t))
            val rep = a.syncNow()
            echeck(rep.pushedRecords == 1UL && rep.pushedSeq != null) { "$rep" }
            b.syncNow()
            echeck(bStore.live()["alice/s1"]?.body == """{"text":"hello from kotlin"}""") { "${bStore.records}" }
            bStore.put(snippet(bId, "s1", null, t + 10, deleted = true))
            b.syncNow()
            a.syncNow()
            echeck(aStore.live().isEmpty() && aStore.records["alice/s1"]!!.deleted) { "${aStore.records}" }
        }
        etest("wrong receipt is SyncException.WrongReceipt") {
            val (c, _, _) = device("kt-wrong", "not the receipt")
            try {
                c.verifyReceipt()
                throw AssertionError("no exception")
            } catch (e: SyncException.WrongReceipt) {
            }
        }
        etest("adapter exception arrives typed") {
            val e = SyncEngine(tmp("azmx-kt-fail"), null)
            e.registerCustomStore("notes", MergeContract.LWW_BY_TIME, ThrowingStore())
            e.register(url, ENGINE_LICENSE, licenseKey, "kt-failing")
            e.setReceipt(ENGINE_RECEIPT)
            try {
                e.syncNow()
                throw AssertionError("no exception")
            } catch (x: SyncException.StoreFailed) {
                echeck(x.store == "notes" && x.detail.contains("disk on fire")) { "$x" }
            }
        }
        etest("activity events reach a Kotlin listener; engine prints nothing secret") {
            val events = EventList()
            a.addListener(events)
            aStore.put(snippet(aId, "s2", "observed", System.currentTimeMillis()))
            a.syncNow()
            val types = events.events.map { it.typeName }
            echeck(types.first() == "cycleStarted" && "pushed" in types && types.last() == "cycleFinished") { "$types" }
            echeck(events.events.none { it.json.contains("observed") })
            echeck(a.toString() == "SyncEngine(device_id=$aId)") { a.toString() }
            echeck(!a.toString().contains(ENGINE_RECEIPT) && !a.toString().contains(licenseKey))
            echeck(a.status().receiptSet && !a.status().json.contains(ENGINE_RECEIPT))
            echeck(a.devices().map { it.deviceId }.containsAll(listOf(aId, bId)))
        }
    } finally {
        relay.destroy()
        relay.waitFor()
    }
    println("kotlin engine: $enginePassed passed, ${engineFailures.size} failed")
    if (engineFailures.isNotEmpty()) System.exit(1)
}
