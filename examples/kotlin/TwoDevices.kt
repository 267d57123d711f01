// Two devices, one local relay: a snippet written on one shows up on the other.
//
//     cargo build -p azmx-sync-cli && AZMX_SYNC_BIN=target/debug/azmx-sync \
//       java -Djna.library.path=target/debug -cp ... TwoDevicesKt
//
// (scripts/test.d/50-kotlin.sh compiles and runs it.) Starts `azmx-sync relay
// serve` on loopback with a fresh license, then runs two SyncEngines with
// Kotlin store adapters and the built-in HTTP transport.

import dev.azmx.sync.*
import java.nio.file.Files

private class ExampleStore : StoreAdapter {
    val records = java.util.concurrent.ConcurrentHashMap<String, SyncRecord>()
    override fun snapshot(): List<SyncRecord> = records.values.toList()
    override fun apply(changes: List<RecordChange>) {
        changes.forEach { records["${it.record.scope}/${it.record.id}"] = it.record }
    }
}

fun main() {
    val exe = System.getenv("AZMX_SYNC_BIN") ?: "target/debug/azmx-sync"
    val data = Files.createTempDirectory("azmx-kt-example-relay").toString()
    val add = ProcessBuilder(exe, "relay", "license", "add", "lic_kt_example", "--data-dir", data)
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    val licenseKey = add.inputStream.bufferedReader().readText().trim().split(Regex("\\s+")).last()
    check(add.waitFor() == 0)
    val relay = ProcessBuilder(exe, "relay", "serve", "--data-dir", data, "--listen", "127.0.0.1:0")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start()
    try {
        val url = relay.inputStream.bufferedReader().readLine().split(" ").last()
        println("relay at $url")
        val devices = listOf("laptop", "desktop").map { name ->
            val engine = SyncEngine(Files.createTempDirectory("azmx-kt-example-$name").toString(), null)
            val store = ExampleStore()
            engine.registerSnippets(store)
            val id = engine.register(url, "lic_kt_example", licenseKey, name)
            engine.setReceipt("RCPT-example-7F3A-99C2")
            engine.verifyReceipt()
            println("$name: $engine")
            Triple(engine, store, id)
        }
        val (laptop, laptopStore, laptopId) = devices[0]
        val (desktop, desktopStore, _) = devices[1]
        laptopStore.records["alice/greeting"] = SyncRecord(id = "greeting", scope = "alice",
            updatedAt = System.currentTimeMillis(), version = null, deleted = false, deviceId = laptopId,
            body = """{"text":"hello from the Kotlin laptop"}""")
        println("laptop sync: ${laptop.syncNow()}")
        println("desktop sync: ${desktop.syncNow()}")
        val seen = desktopStore.records["alice/greeting"] ?: error("the desktop did not receive the snippet")
        println("desktop sees: ${seen.body} (written by ${seen.deviceId})")
    } finally {
        relay.destroy()
        relay.waitFor()
    }
}
