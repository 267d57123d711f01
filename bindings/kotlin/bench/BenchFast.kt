// The Kotlin bulk path against the JVM's own AES-256-GCM (javax.crypto,
// "AES/GCM/NoPadding": the platform's AES-GCM), 1 KiB and 1 MiB, in one
// run. Prints one JSON line (per-call seconds, the median of timed loops) for
// scripts/bench.sh. Compiled against azmx-sync.jar (bindings/kotlin/build-jar.sh):
//
//   kotlinc -cp azmx-sync.jar:jna.jar bindings/kotlin/bench/BenchFast.kt -d bench.jar
//   java -cp bench.jar:azmx-sync.jar:kotlin-stdlib.jar:jna.jar BenchFastKt [--quick]
//
// javax.crypto's encrypt is timed with a fresh random nonce per call and no
// framing, so it does strictly less work than seal.

import dev.azmx.sync.*
import java.nio.ByteBuffer
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec
import kotlin.random.Random

/**
 * Median seconds per call over `repeats` loops of at least `minNanos` each,
 * after a warm-up long enough for the JIT to compile the hot loops (the
 * JDK's GCM is Java code with intrinsics: interpreted, it is ~50x slower).
 */
fun perCall(minNanos: Long, repeats: Int, f: () -> Unit): Double {
    val warm = System.nanoTime()
    var calls = 0
    while (System.nanoTime() - warm < 4 * minNanos || calls < 200) { f(); calls++ }
    var n = 1
    while (true) {
        val t0 = System.nanoTime(); repeat(n) { f() }; val dt = System.nanoTime() - t0
        if (dt >= minNanos / 4) break
        n *= 2
    }
    val samples = (1..repeats).map {
        val t0 = System.nanoTime(); repeat(n) { f() }; (System.nanoTime() - t0).toDouble() / n / 1e9
    }
    return samples.sorted()[samples.size / 2]
}

fun main(args: Array<String>) {
    val quick = args.contains("--quick")
    val (minNanos, repeats) = if (quick) 100_000_000L to 3 else 300_000_000L to 7
    val key = EnvelopeKey.derive("bench receipt", "bench-license")
    val rnd = SecureRandom()
    val jkey = SecretKeySpec(ByteArray(32).also { rnd.nextBytes(it) }, "AES")
    val cells = mutableListOf<String>()
    for ((label, size) in listOf("1KiB" to 1024, "1MiB" to (1 shl 20))) {
        val p = Random.nextBytes(size)
        val f = key.fast()
        val blob = f.seal(p)
        check(f.open(blob).contentEquals(p))
        val din = ByteBuffer.allocateDirect(size).put(p)
        val dout = ByteBuffer.allocateDirect(size + ENVELOPE_OVERHEAD)
        val nonce = ByteArray(12).also { rnd.nextBytes(it) }
        val enc = Cipher.getInstance("AES/GCM/NoPadding")
        enc.init(Cipher.ENCRYPT_MODE, jkey, GCMParameterSpec(128, nonce))
        val ct = enc.doFinal(p)
        val sealer = Cipher.getInstance("AES/GCM/NoPadding")
        val opener = Cipher.getInstance("AES/GCM/NoPadding")
        val openSpec = GCMParameterSpec(128, nonce)
        val t = linkedMapOf(
            "fastSeal" to perCall(minNanos, repeats) { f.seal(p) },
            "fastOpen" to perCall(minNanos, repeats) { f.open(blob) },
            "directSeal" to perCall(minNanos, repeats) { din.clear(); dout.clear(); f.sealInto(din, dout) },
            "jceSeal" to perCall(minNanos, repeats) {
                val n = ByteArray(12); rnd.nextBytes(n)
                sealer.init(Cipher.ENCRYPT_MODE, jkey, GCMParameterSpec(128, n)); sealer.doFinal(p)
            },
            "jceOpen" to perCall(minNanos, repeats) {
                opener.init(Cipher.DECRYPT_MODE, jkey, openSpec); opener.doFinal(ct)
            },
        )
        f.close()
        cells += "\"$label\":{" + t.entries.joinToString(",") { "\"${it.key}\":${it.value}" } + "}"
    }
    val jvm = System.getProperty("java.vm.name") + " " + System.getProperty("java.version")
    println("{\"jvm\":\"$jvm\"," + cells.joinToString(",") + "}")
}
