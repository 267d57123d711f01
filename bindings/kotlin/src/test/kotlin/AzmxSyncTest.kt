// Kotlin/JVM tests of the azmx_sync bindings, run against the real
// libazmx_sync (JNA, -Djna.library.path=...). A tiny runner: every `test`
// block is one test; the summary line gives pass/fail counts and the exit
// status is non-zero on any failure. Run by scripts/test.d/50-kotlin.sh.

import dev.azmx.sync.*
import java.io.File
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions
import java.security.MessageDigest
import java.util.Base64
import kotlin.random.Random

private var passed = 0
private val failures = mutableListOf<String>()

private fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("  ok   $name")
    } catch (t: Throwable) {
        failures += name
        println("  FAIL $name: $t")
        t.stackTrace.take(6).forEach { println("         at $it") }
    }
}

private fun check(cond: Boolean, msg: () -> String = { "check failed" }) {
    if (!cond) throw AssertionError(msg())
}

private fun <T> eq(actual: T, expected: T) = check(actual == expected) { "expected <$expected>, got <$actual>" }

private inline fun <reified E : Throwable> throws(body: () -> Unit): E {
    try {
        body()
    } catch (t: Throwable) {
        if (t is E) return t
        throw AssertionError("expected ${E::class.simpleName}, got $t", t)
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

private fun sha256(b: ByteArray) = MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) }
private fun b64urlDecode(s: String) = Base64.getUrlDecoder().decode(s)
private fun tempDir(): File = Files.createTempDirectory("azmx-kt").toFile().also { it.deleteOnExit() }

const val RECEIPT = "azmx-receipt-7Hq2-Secret-Value"
const val LICENSE = "lic_test_01"
const val SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

fun snip(id: String, at: Long, dev: String, text: String?, scope: String? = "alice", deleted: Boolean = false) =
    SyncRecord(id = id, scope = scope, updatedAt = at, version = null, deleted = deleted, deviceId = dev,
        body = if (deleted) null else """{"text":"$text"}""")

fun main() {
    val key = EnvelopeKey.derive(RECEIPT, LICENSE)
    val otherKey = EnvelopeKey.derive("a different receipt", LICENSE)

    println("EnvelopeKey")
    test("derive trims ASCII whitespace only") {
        check(EnvelopeKey.derive(" \t$RECEIPT\r\n", LICENSE) == key)
        check(EnvelopeKey.derive("\u00a0$RECEIPT", LICENSE) != key)
        check(EnvelopeKey.derive(RECEIPT, LICENSE + "x") != key)
    }
    test("empty receipt / license id are typed") {
        throws<SyncException.EmptyReceipt> { EnvelopeKey.derive("  \n", LICENSE) }
        throws<SyncException.EmptyLicenseId> { EnvelopeKey.derive(RECEIPT, "") }
    }
    test("key prints nothing secret") {
        eq(key.toString(), "EnvelopeKey(<redacted>)")
        check(!key.toString().contains(RECEIPT) && !"$key".contains(LICENSE))
        val methods = EnvelopeKey::class.java.methods.map { it.name }
        check(methods.none { it.contains("bytes", true) || it.contains("secret", true) || it.contains("export", true) }) { "$methods" }
    }
    test("seal/open round trip, fresh IV") {
        for (msg in listOf(ByteArray(0), "x".toByteArray(), "hello snippets".toByteArray(), Random.nextBytes(5000))) {
            val blob = key.seal(msg)
            eq(blob.size, msg.size + 29)
            eq(blob[0], 1.toByte())
            check(key.open(blob).contentEquals(msg))
            check(!key.seal(msg).contentEquals(blob))
        }
    }
    test("text form is unpadded base64url") {
        val text = key.sealText("\u00fb snippet".toByteArray())
        check(!text.contains('=') && !text.contains('+') && !text.contains('/'))
        check(key.open(b64urlDecode(text)).contentEquals("\u00fb snippet".toByteArray()))
        check(key.openText(text).contentEquals("\u00fb snippet".toByteArray()))
        throws<SyncException.InvalidBase64> { key.openText("$text=") }
    }
    test("open errors in check order, typed") {
        eq(throws<SyncException.EnvelopeTooShort> { key.open(ByteArray(28) { 1 }) }.len, 28UL)
        eq(throws<SyncException.UnsupportedVersion> { key.open(ByteArray(29) { 2 }) }.version, 2.toUByte())
        val blob = key.seal("secret plaintext".toByteArray())
        val e = throws<SyncException.DecryptFailed> { otherKey.open(blob) }
        check(!e.toString().contains("secret plaintext"))
        blob[blob.size - 1] = (blob[blob.size - 1].toInt() xor 1).toByte()
        throws<SyncException.DecryptFailed> { key.open(blob) }
    }
    test("sha256Hex and verifyBlob (BlobIntegrity is not DecryptFailed)") {
        val blob = key.seal("payload".toByteArray())
        val digest = sha256Hex(blob)
        eq(digest, sha256(blob))
        verifyBlob(digest, blob)
        val corrupted = blob.copyOf().also { it[5] = (it[5].toInt() xor 0x80).toByte() }
        val e = throws<SyncException.BlobIntegrityException> { verifyBlob(digest, corrupted) }
        eq(e.expected, digest)
        eq(e.actual, sha256(corrupted))
        check((e as SyncException) !is SyncException.DecryptFailed)
    }
    test("error variants are distinct types") {
        // Java reflection (kotlin-reflect is not on the class path).
        val classes = SyncException::class.java.declaredClasses.filter { SyncException::class.java.isAssignableFrom(it) }
        check(classes.size >= 20) { "$classes" }
        val names = classes.map { it.simpleName }.toSet()
        for (n in listOf("DecryptFailed", "WrongReceipt", "BlobIntegrityException", "ClockSkew", "Revoked", "HostCallback"))
            check(n in names) { "$n missing from $names" }
        for (a in classes) for (b in classes) check((a == b) == b.isAssignableFrom(a))
    }

    println("fast path")
    test("round trip and interop with the uniffi path") {
        for (size in listOf(0, 1, 15, 16, 17, 1024, 4099, 1 shl 20)) {
            val msg = Random.nextBytes(size)
            val blob = key.sealFast(msg)
            eq(blob.size, size + 29)
            check(key.openFast(blob).contentEquals(msg)) { "size $size" }
            if (size <= 4099) {
                check(key.open(blob).contentEquals(msg))
                check(key.openFast(key.seal(msg)).contentEquals(msg))
            }
        }
    }
    test("fast errors are the same types") {
        val blob = key.sealFast("fast secret".toByteArray())
        throws<SyncException.DecryptFailed> { otherKey.openFast(blob) }
        eq(throws<SyncException.EnvelopeTooShort> { key.openFast(blob.copyOf(28)) }.len, 28UL)
        val v7 = blob.copyOf().also { it[0] = 7 }
        eq(throws<SyncException.UnsupportedVersion> { key.openFast(v7) }.version, 7.toUByte())
        val t = blob.copyOf().also { it[14] = (it[14].toInt() xor 1).toByte() }
        throws<SyncException.DecryptFailed> { key.openFast(t) }
    }
    test("FastEnvelope: reuse, Into variants, close, prints nothing") {
        key.fast().use { f ->
            eq(f.toString(), "FastEnvelope(<redacted>)")
            val msg = Random.nextBytes(3000)
            val buf = ByteArray(4000)
            val n = f.sealInto(msg, buf)
            eq(n, 3029)
            val plain = ByteArray(3000)
            eq(f.openInto(buf.copyOf(n), plain), 3000)
            check(plain.contentEquals(msg))
            check(key.open(f.seal(msg)).contentEquals(msg))
        }
        val f = key.fast()
        f.close()
        f.close() // idempotent
        throws<IllegalStateException> { f.seal(ByteArray(1)) }
        // A FastEnvelope holds its own reference: it outlives destroy() of the key object.
        val k = EnvelopeKey.derive("short-lived", LICENSE)
        val fk = k.fast()
        val blob = k.sealFast("x".toByteArray())
        k.destroy()
        throws<IllegalStateException> { k.openFast(blob) }
        check(fk.open(blob).contentEquals("x".toByteArray()))
        fk.close()
    }
    test("FastEnvelope: direct ByteBuffers, positions, typed errors") {
        key.fast().use { f ->
            val msg = Random.nextBytes(5000)
            val input = ByteBuffer.allocateDirect(5010)
            input.position(7); input.put(msg); input.flip(); input.position(7)
            val sealed = ByteBuffer.allocateDirect(6000).also { it.position(3) }
            eq(f.sealInto(input, sealed), 5029)
            eq(input.remaining(), 0)
            eq(sealed.position(), 3 + 5029)
            // The same bytes the ByteArray path opens.
            sealed.flip(); sealed.position(3)
            val blob = ByteArray(5029).also { sealed.duplicate().get(it) }
            check(f.open(blob).contentEquals(msg))
            val plain = ByteBuffer.allocateDirect(5000)
            eq(f.openInto(sealed, plain), 5000)
            plain.flip()
            check(ByteArray(5000).also { plain.get(it) }.contentEquals(msg))
            // A tampered blob: typed error, and no plaintext in `out`.
            val bad = ByteBuffer.allocateDirect(blob.size).put(blob).also { it.flip() }
            bad.put(100, (bad.get(100).toInt() xor 1).toByte())
            val untouched = ByteBuffer.allocateDirect(5000)
            throws<SyncException.DecryptFailed> { f.openInto(bad, untouched) }
            eq(untouched.position(), 0)
            check((0 until 5000).all { untouched.get(it) == 0.toByte() })
            throws<IllegalArgumentException> { f.sealInto(ByteBuffer.wrap(msg), sealed) }
            throws<IllegalArgumentException> {
                f.sealInto(ByteBuffer.allocateDirect(10), ByteBuffer.allocateDirect(38))
            }
        }
    }
    test("fast path threads are safe") {
        val threads = (0 until 4).map { i ->
            Thread {
                val tk = EnvelopeKey.derive("receipt $i", LICENSE)
                val shared = key.fast()
                repeat(200) { j ->
                    val m = Random.nextBytes(j * 7)
                    check(tk.openFast(tk.sealFast(m)).contentEquals(m))
                    check(shared.open(shared.seal(m)).contentEquals(m))
                }
                shared.close()
                tk.close()
            }
        }
        val errors = java.util.concurrent.ConcurrentLinkedQueue<Throwable>()
        threads.forEach { th -> th.setUncaughtExceptionHandler { _, e -> errors.add(e) }; th.start() }
        threads.forEach { it.join() }
        check(errors.isEmpty()) { "$errors" }
    }

    println("DeviceIdentity")
    test("loadOrCreate persists a 0600 key file") {
        val dir = tempDir()
        val path = File(dir, "device.key").path
        val a = DeviceIdentity.loadOrCreate(path)
        eq(PosixFilePermissions.toString(Files.getPosixFilePermissions(File(path).toPath())), "rw-------")
        val b = DeviceIdentity.loadOrCreate(path)
        val c = DeviceIdentity.load(path)
        eq(a.publicKey(), b.publicKey()); eq(b.publicKey(), c.publicKey())
        eq(b64urlDecode(a.publicKey()).size, 32)
        eq(a.fingerprint().length, 19)
        eq(fingerprintOf(a.publicKey()), a.fingerprint())
    }
    test("identity prints no private key") {
        val path = File(tempDir(), "device.key").path
        val id = DeviceIdentity.loadOrCreate(path)
        val seed = File(path).readBytes().copyOfRange(8, 40)
        val encodings = listOf(
            seed.joinToString("") { "%02x".format(it) },
            Base64.getEncoder().encodeToString(seed),
            Base64.getUrlEncoder().withoutPadding().encodeToString(seed),
            seed.contentToString(),
        )
        val text = id.toString()
        check(text.contains("<redacted>") && text.contains(id.publicKey())) { text }
        for (enc in encodings) check(!text.contains(enc))
        val names = DeviceIdentity::class.java.methods.map { it.name }
        check(names.none { it.contains("private", true) || it.contains("seed", true) || it.contains("secret", true) }) { "$names" }
    }
    test("key file problems are typed") {
        val dir = tempDir()
        val e1 = throws<SyncException.KeyFile> { DeviceIdentity.loadOrCreate(File(dir, "missing-dir/device.key").path) }
        eq(e1.problem, KeyFileProblem.MissingDirectory)
        check(e1.path.contains("missing-dir"))
        val path = File(dir, "device.key").path
        eq(throws<SyncException.KeyFile> { DeviceIdentity.load(path) }.problem, KeyFileProblem.Io)
        DeviceIdentity.loadOrCreate(path)
        Files.setPosixFilePermissions(File(path).toPath(), PosixFilePermissions.fromString("rw-r--r--"))
        eq(throws<SyncException.KeyFile> { DeviceIdentity.loadOrCreate(path) }.problem,
            KeyFileProblem.InsecurePermissions(0b110_100_100u))
        Files.setPosixFilePermissions(File(path).toPath(), PosixFilePermissions.fromString("rw-------"))
        val bytes = File(path).readBytes().also { it[20] = (it[20].toInt() xor 1).toByte() }
        File(path).writeBytes(bytes)
        eq(throws<SyncException.KeyFile> { DeviceIdentity.load(path) }.problem, KeyFileProblem.Corrupt)
    }
    test("sign canonicals and verify") {
        val id = DeviceIdentity.loadOrCreate(File(tempDir(), "device.key").path)
        val now = System.currentTimeMillis() / 1000
        val c = "push|dev_1|42|$SHA_EMPTY|$now"
        val sig = id.signCanonical(c)
        eq(b64urlDecode(sig).size, 64)
        val v = verifySigned(id.publicKey(), c, sig, now + 10)
        eq(v, VerifiedRequest("push", "dev_1", now))
        for (bad in listOf("anything goes", "push|dev_1|01|$SHA_EMPTY|1", ""))
            throws<SyncException.MalformedField> { id.signCanonical(bad) }
    }
    test("verify errors are typed (BadSignature, ClockSkew, MalformedField)") {
        val dir = tempDir()
        val id = DeviceIdentity.loadOrCreate(File(dir, "a.key").path)
        val other = DeviceIdentity.loadOrCreate(File(dir, "b.key").path)
        val c = "devices|dev_1|1700000000"
        val sig = id.signCanonical(c)
        throws<SyncException.BadSignature> { verifySigned(other.publicKey(), c, sig, 1_700_000_000) }
        val skew = throws<SyncException.ClockSkew> { verifySigned(id.publicKey(), c, sig, 1_700_000_301) }
        eq(skew.skewSecs, -301L); eq(skew.maxSecs, 300L)
        eq(verifySigned(id.publicKey(), c, sig, 1_700_000_301, 400).ts, 1_700_000_000L)
        eq(throws<SyncException.MalformedField> { verifySigned("not-a-key", c, sig, 1_700_000_000) }.field, "publicKey")
        throws<SyncException.MalformedField> { fingerprintOf("AAAA") }
    }

    println("merge")
    test("built-in stores") {
        val stores = builtinStores().associateBy { it.name }
        eq(stores.keys, setOf("snippets", "todos", "memory"))
        eq(stores["memory"], StoreSpec("memory", MergeContract.LWW_BY_VERSION, StoreValidator.NO_SCOPE))
        eq(builtinStore("todos"), StoreSpec("todos", MergeContract.LWW_PER_GROUP, StoreValidator.TODOS))
        eq(throws<SyncException.UnknownStore> { builtinStore("chats") }.name, "chats")
    }
    test("snippets: LWW per id, additive, idempotent") {
        val spec = builtinStore("snippets")
        val local = listOf(snip("a", 100, "laptop", "mine"), snip("b", 100, "laptop", "old b"))
        val incoming = listOf(snip("b", 200, "desktop", "new b"), snip("c", 50, "desktop", "peer only"), snip("a", 10, "desktop", "stale"))
        val out = mergeRecords(spec, local, incoming)
        eq(out.state.map { it.id to it.body }, listOf("a" to """{"text":"mine"}""", "b" to """{"text":"new b"}""", "c" to """{"text":"peer only"}"""))
        eq(out.changes.map { it.op to it.record.id }, listOf(ChangeOp.UPDATE to "b", ChangeOp.INSERT to "c"))
        eq(out.counts, MergeCounts(applied = 2UL, keptLocal = 1UL, rejectedInvalid = 0UL, unchanged = 0UL))
        val again = mergeRecords(spec, out.state, incoming.reversed())
        eq(again.changes, emptyList<RecordChange>()); eq(again.state, out.state)
    }
    test("tombstones delete; absence never deletes") {
        val spec = builtinStore("snippets")
        val local = listOf(snip("a", 100, "laptop", "x"), snip("b", 100, "laptop", "y"))
        val out = mergeRecords(spec, local, listOf(snip("a", 200, "desktop", null, deleted = true)))
        eq(out.changes.map { Triple(it.op, it.record.id, it.record.body) }, listOf(Triple(ChangeOp.DELETE, "a", null)))
        eq(mergeRecords(spec, local, emptyList()).state, local)
    }
    test("memory: LWW by version; todos validated; rejections typed") {
        val memory = builtinStore("memory")
        val m = { v: ULong?, at: Long, f: String -> SyncRecord("m1", null, at, v, false, "d", """{"fact":"$f"}""") }
        eq(mergeRecords(memory, listOf(m(5UL, 1000, "v5")), listOf(m(6UL, 1, "v6"))).state.single().body, """{"fact":"v6"}""")
        eq(mergeRecords(memory, emptyList(), listOf(m(null, 1, "x"))).rejected.single().reason, RejectReason.MissingVersion)
        val todos = builtinStore("todos")
        val bad = SyncRecord("s2", null, 10, null, false, "d",
            """{"items":[{"id":"1","content":"a","status":"in_progress"},{"id":"2","content":"b","status":"in_progress"}]}""")
        val r = mergeRecords(todos, emptyList(), listOf(bad)).rejected.single()
        eq(r.reason, RejectReason.InvalidTodos(TodoProblem.MultipleInProgress(1UL)))
        val shape = mergeRecords(builtinStore("snippets"), emptyList(), listOf(snip("/etc/passwd", 1, "d", "p"), snip("ok", 1, "d", "x", scope = null)))
        eq(shape.rejected.map { it.reason }.toSet(), setOf(RejectReason.PathLikeId, RejectReason.MissingScope))
        val e = throws<SyncException.InvalidJson> {
            mergeRecords(builtinStore("snippets"), emptyList(), listOf(SyncRecord("b", "s", 1, null, false, "d", "{oops")))
        }
        eq(e.what, "incoming[0].body")
    }
    test("host-registered store") {
        val spec = StoreSpec("bookmarks", MergeContract.LWW_BY_TIME, StoreValidator.SHAPE_ONLY)
        checkStoreSpec(spec)
        val out = mergeRecords(spec, emptyList(), listOf(SyncRecord("k", null, 5, null, false, "d1", """{"url": "https://example.org", "n": [1, 2]}""")))
        eq(out.state.single().body, """{"n":[1,2],"url":"https://example.org"}""")
        eq(throws<SyncException.InvalidStoreName> { checkStoreSpec(StoreSpec("team-workspace", MergeContract.LWW_BY_TIME, StoreValidator.SHAPE_ONLY)) }.problem,
            StoreNameProblem.WORKSPACE_SCOPED)
        throws<SyncException.BuiltinStoreRedefined> { checkStoreSpec(StoreSpec("snippets", MergeContract.LWW_BY_VERSION, StoreValidator.REQUIRE_SCOPE)) }
    }
    test("validateTodos") {
        validateTodos("""{"items":[{"id":"1","content":"a","status":"pending"}]}""")
        eq(throws<SyncException.InvalidTodos> { validateTodos("[]") }.problem, TodoProblem.NotAnObject)
        eq(throws<SyncException.InvalidTodos> {
            validateTodos("""{"items":[{"id":"1","content":"a","status":"pending"},{"id":"1","content":"b","status":"pending"}]}""")
        }.problem, TodoProblem.DuplicateId(1UL, 0UL))
        eq(throws<SyncException.InvalidJson> { validateTodos("{nope") }.what, "json")
    }

    benchmark(key)

    println()
    println("kotlin: ${passed} passed, ${failures.size} failed")
    if (failures.isNotEmpty()) {
        println("failed: $failures")
        System.exit(1)
    }
    System.exit(0)
}

/** Informational timings: the fast path vs the uniffi path (same machine, same run). */
fun benchmark(key: EnvelopeKey) {
    if (System.getenv("AZMX_KOTLIN_BENCH") == "0") return
    fun perCall(minNanos: Long, f: () -> Unit): Double {
        val warm = System.nanoTime()
        while (System.nanoTime() - warm < minNanos / 2) f() // warm-up (JIT)
        var n = 1
        while (true) {
            val t0 = System.nanoTime(); repeat(n) { f() }; val dt = System.nanoTime() - t0
            if (dt >= minNanos) return dt.toDouble() / n
            n *= 2
        }
    }
    println("benchmark (informational, per call):")
    for ((label, size) in listOf("1 KiB" to 1024, "1 MiB" to (1 shl 20))) {
        val p = Random.nextBytes(size)
        val f = key.fast()
        val blob = f.seal(p)
        val fast = perCall(200_000_000) { f.seal(p) }
        val fastOpen = perCall(200_000_000) { f.open(blob) }
        val oneOff = perCall(200_000_000) { key.sealFast(p) }
        val slow = perCall(200_000_000) { key.seal(p) }
        val din = ByteBuffer.allocateDirect(size).put(p)
        val dout = ByteBuffer.allocateDirect(size + ENVELOPE_OVERHEAD)
        val direct = perCall(200_000_000) { din.clear(); dout.clear(); f.sealInto(din, dout) }
        f.close()
        println("  %-6s FastEnvelope seal %8.1f us  open %8.1f us | direct ByteBuffer seal %8.1f us | key.sealFast (one-off) %8.1f us | uniffi key.seal %8.1f us"
            .format(label, fast / 1e3, fastOpen / 1e3, direct / 1e3, oneOff / 1e3, slow / 1e3))
    }
}
