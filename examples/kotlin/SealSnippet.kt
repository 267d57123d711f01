// Seal a snippet the way a device does before a push, and read it back.
//
//     examples/kotlin/run.sh
//
// Uses the crypto surface of the Kotlin bindings (package dev.azmx.sync): the
// envelope key (derived from the recovery receipt, never exported), the
// device identity (private key stays in its 0600 file), blob integrity and the
// signed push canonical, then merges the snippet into a local store. The
// two-device relay version comes with the sync engine bindings.

import dev.azmx.sync.*
import java.nio.file.Files

fun main() {
    val receipt = System.getenv("AZMX_RECEIPT") ?: "demo-recovery-receipt-0000"
    val license = System.getenv("AZMX_LICENSE") ?: "lic_demo"
    val key = EnvelopeKey.derive(receipt, license) // ~100 ms, once per session
    val home = Files.createTempDirectory("azmx-example").toFile()
    try {
        val device = DeviceIdentity.loadOrCreate(home.resolve("device.key").path)
        println("device ${device.fingerprint()}  key $key")

        val snippet = SyncRecord(
            id = "greeting", scope = "alice", updatedAt = System.currentTimeMillis(), version = null,
            deleted = false, deviceId = "dev_laptop", body = """{"text":"Hello from Kotlin"}""",
        )
        val plaintext = """{"snippets":[${snippet.body}]}""".toByteArray()
        key.fast().use { envelope ->
            val blob = envelope.seal(plaintext) // the bulk path; key.seal() gives the same format
            val sha = sha256Hex(blob)
            val now = System.currentTimeMillis() / 1000
            val canonical = "push|dev_laptop|1|$sha|$now"
            val signature = device.signCanonical(canonical)
            println("sealed ${plaintext.size} -> ${blob.size} bytes, sha256 ${sha.take(16)}...")

            // What the relay checks, and what the other device does on pull.
            verifySigned(device.publicKey(), canonical, signature, now)
            verifyBlob(sha, blob)
            check(envelope.open(blob).contentEquals(plaintext))
            try {
                verifyBlob(sha, blob.copyOf().also { it[it.size - 1] = 0 })
            } catch (e: SyncException.BlobIntegrityException) {
                println("a corrupted blob is a BlobIntegrityException, not a decrypt failure")
            }
        }
        val out = mergeRecords(builtinStore("snippets"), local = emptyList(), incoming = listOf(snippet))
        for (c in out.changes) println("${c.op.name.lowercase()} ${c.record.scope}/${c.record.id}: ${c.record.body}")
    } finally {
        home.deleteRecursively()
    }
}
