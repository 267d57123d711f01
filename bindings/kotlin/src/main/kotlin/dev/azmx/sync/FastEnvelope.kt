// The fast bulk-bytes path for EnvelopeKey seal/open on the JVM.
//
// uniffi copies a ByteArray across the boundary element by element (through
// a RustBuffer), and every generated call allocates a JNA call-status
// structure. [FastEnvelope] calls the plain C functions of
// bindings/ffi/src/uniffi_api/fast.rs on the same loaded libazmx_sync via JNA
// direct mapping instead: input and output arrays go straight to native code.
//
// The key crosses only as its uniffi handle. `EnvelopeKey.fast()` takes one
// reference of it (a clone made inside the generated `callWithHandle`, so a
// concurrent `destroy()` cannot race it); the FastEnvelope lends that
// reference to each call and gives it back on `close()` (or when garbage
// collected) with `azmx_uniffi_fast_release_key`.
//
//     key.fast().use { f -> val blob = f.seal(data); f.open(blob) }
//     key.sealFast(data) / key.openFast(blob)    // one-off: a FastEnvelope per call
//     f.sealInto(directIn, directOut)            // direct ByteBuffers: no copy at all
//
// JNA copies a ByteArray into native memory for the call and the result back
// out (about twice the cipher's own time at 1 MiB). Direct ByteBuffers are
// passed by address, so the core encrypts from the caller's memory straight
// into the caller's memory.
//
// Compile this file in the same Kotlin module as the generated
// `dev/azmx/sync/azmx_sync.kt` (it uses module-internal `callWithHandle`
// and the generated cleaner).
@file:JvmName("FastEnvelopeKt")

package dev.azmx.sync

import com.sun.jna.Native
import com.sun.jna.Pointer
import java.lang.ref.Reference
import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

/** Version of the C fast-path ABI this file speaks. */
const val FAST_ABI_VERSION: Int = 2

/** Bytes a v1 envelope adds to its plaintext: version (1) + IV (12) + tag (16). */
const val ENVELOPE_OVERHEAD: Int = 29

internal object AzmxFastLib {
    init {
        // The same library name resolution as the generated bindings, so JNA
        // hands back the library instance they already loaded.
        val name = System.getProperty("uniffi.component.azmx_sync.libraryOverride") ?: "azmx_sync"
        Native.register(AzmxFastLib::class.java, name)
        check(Native.SIZE_T_SIZE == 8) { "the fast path maps size_t to Long: 64-bit platforms only" }
        val abi = azmx_uniffi_fast_abi_version()
        check(abi == FAST_ABI_VERSION) { "libazmx_sync fast-path ABI $abi != $FAST_ABI_VERSION" }
        for ((name, value) in listOf("OK" to OK, "ENVELOPE_TOO_SHORT" to ENVELOPE_TOO_SHORT,
                "UNSUPPORTED_VERSION" to UNSUPPORTED_VERSION, "DECRYPT_FAILED" to DECRYPT_FAILED)) {
            check(azmx_status_name(value) == name) { "libazmx_sync status $value is not $name" }
        }
    }

    // The statuses this file tells apart: AzmxStatus values (one status enum
    // for the whole library, include/azmx_sync.h), checked by name above.
    const val OK = 0
    const val ENVELOPE_TOO_SHORT = 13
    const val UNSUPPORTED_VERSION = 14
    const val DECRYPT_FAILED = 15

    @JvmStatic external fun azmx_uniffi_fast_abi_version(): Int

    @JvmStatic external fun azmx_status_name(status: Int): String

    // `outLen` is always null: the caller knows the result size.
    @JvmStatic external fun azmx_uniffi_fast_seal(
        key: Long, input: ByteArray, inputLen: Long, out: ByteArray, outCap: Long, outLen: LongArray?,
    ): Int

    @JvmStatic external fun azmx_uniffi_fast_open(
        key: Long, blob: ByteArray, blobLen: Long, out: ByteArray, outCap: Long, outLen: LongArray?,
    ): Int

    // The same functions with raw addresses, for direct ByteBuffers
    // (`outLen` is 0, i.e. NULL).
    @JvmStatic external fun azmx_uniffi_fast_seal(
        key: Long, input: Long, inputLen: Long, out: Long, outCap: Long, outLen: Long,
    ): Int

    @JvmStatic external fun azmx_uniffi_fast_open(
        key: Long, blob: Long, blobLen: Long, out: Long, outCap: Long, outLen: Long,
    ): Int

    @JvmStatic external fun azmx_uniffi_fast_release_key(key: Long): Int
}

/** Address of `buf`'s position; `buf` must be direct. */
private fun addressAt(buf: ByteBuffer, what: String): Long {
    require(buf.isDirect) { "$what must be a direct ByteBuffer (ByteBuffer.allocateDirect)" }
    return Pointer.nativeValue(Native.getDirectBufferPointer(buf)) + buf.position()
}

/**
 * Fast seal/open with one [EnvelopeKey], holding its own reference to the
 * Rust key (never the key bytes). Thread-safe. [close] gives the reference
 * back; calls after that throw [IllegalStateException].
 */
class FastEnvelope internal constructor(private val handle: Long) : AutoCloseable {
    private val calls = AtomicLong(1)
    private val closed = AtomicBoolean(false)
    private val cleanable = UniffiLib.CLEANER.register(this, Release(handle))

    // A static class, so the cleaner action does not capture `this`.
    private class Release(private val handle: Long) : Runnable {
        override fun run() {
            AzmxFastLib.azmx_uniffi_fast_release_key(handle)
        }
    }

    private inline fun <R> withHandle(block: (Long) -> R): R {
        while (true) {
            val c = calls.get()
            check(c > 0L) { "FastEnvelope is closed" }
            if (calls.compareAndSet(c, c + 1)) break
        }
        try {
            return block(handle)
        } finally {
            if (calls.decrementAndGet() == 0L) cleanable.clean()
        }
    }

    /** Seals `plaintext` into a v1 envelope blob (`0x01 | iv | ciphertext | tag`). */
    fun seal(plaintext: ByteArray): ByteArray {
        val out = ByteArray(plaintext.size + ENVELOPE_OVERHEAD)
        sealInto(plaintext, out)
        return out
    }

    /**
     * Seals into `out` (at least `plaintext.size + 29` bytes, e.g. a reused
     * buffer); returns the blob length.
     */
    fun sealInto(plaintext: ByteArray, out: ByteArray): Int {
        val n = plaintext.size + ENVELOPE_OVERHEAD
        require(out.size >= n) { "out needs $n bytes" }
        val rc = withHandle { h ->
            AzmxFastLib.azmx_uniffi_fast_seal(h, plaintext, plaintext.size.toLong(), out, out.size.toLong(), null)
        }
        if (rc != AzmxFastLib.OK) throw internalError(rc)
        return n
    }

    /**
     * Opens a v1 envelope blob. Throws the same typed errors as
     * [EnvelopeKey.open]: [SyncException.EnvelopeTooShort],
     * [SyncException.UnsupportedVersion], [SyncException.DecryptFailed].
     */
    @Throws(SyncException::class)
    fun open(blob: ByteArray): ByteArray {
        if (blob.size < ENVELOPE_OVERHEAD) throw SyncException.EnvelopeTooShort(blob.size.toULong())
        val out = ByteArray(blob.size - ENVELOPE_OVERHEAD)
        openInto(blob, out)
        return out
    }

    /** Opens into `out` (at least `blob.size - 29` bytes); returns the plaintext length. */
    @Throws(SyncException::class)
    fun openInto(blob: ByteArray, out: ByteArray): Int {
        if (blob.size < ENVELOPE_OVERHEAD) throw SyncException.EnvelopeTooShort(blob.size.toULong())
        val n = blob.size - ENVELOPE_OVERHEAD
        require(out.size >= n) { "out needs $n bytes" }
        val rc = withHandle { h ->
            AzmxFastLib.azmx_uniffi_fast_open(h, blob, blob.size.toLong(), out, out.size.toLong(), null)
        }
        return when (rc) {
            AzmxFastLib.OK -> n
            AzmxFastLib.ENVELOPE_TOO_SHORT -> throw SyncException.EnvelopeTooShort(blob.size.toULong())
            AzmxFastLib.UNSUPPORTED_VERSION -> throw SyncException.UnsupportedVersion(blob[0].toUByte())
            AzmxFastLib.DECRYPT_FAILED -> throw SyncException.DecryptFailed()
            else -> throw internalError(rc)
        }
    }

    /**
     * Seals the remaining bytes of `plaintext` (position to limit) into the
     * remaining space of `out`; both must be direct buffers, and they must
     * not overlap. Advances both positions; returns the blob length
     * (remaining + 29). Nothing is copied on the JVM side.
     */
    fun sealInto(plaintext: ByteBuffer, out: ByteBuffer): Int {
        val len = plaintext.remaining()
        val n = len + ENVELOPE_OVERHEAD
        val rc = callDirect(plaintext, "plaintext", out, n, AzmxFastLib::azmx_uniffi_fast_seal)
        if (rc != AzmxFastLib.OK) throw internalError(rc)
        plaintext.position(plaintext.limit())
        out.position(out.position() + n)
        return n
    }

    /**
     * Calls a fast-path function on the remaining bytes of `input` and the
     * first `outLen` bytes of `out`'s remaining space, by address.
     */
    private inline fun callDirect(
        input: ByteBuffer,
        what: String,
        out: ByteBuffer,
        outLen: Int,
        native: (Long, Long, Long, Long, Long, Long) -> Int,
    ): Int {
        require(out.remaining() >= outLen) { "out needs $outLen bytes remaining" }
        val inAddr = addressAt(input, what)
        val outAddr = addressAt(out, "out")
        val rc = withHandle { h -> native(h, inAddr, input.remaining().toLong(), outAddr, outLen.toLong(), 0L) }
        // The addresses are raw: keep both buffers (and their memory) alive
        // until the native call has returned.
        Reference.reachabilityFence(input)
        Reference.reachabilityFence(out)
        return rc
    }

    /**
     * Opens the remaining bytes of `blob` into the remaining space of `out`
     * (direct buffers, not overlapping). Advances both positions on success;
     * returns the plaintext length. Nothing is written to `out` unless the
     * tag verifies. Same typed errors as [open].
     */
    @Throws(SyncException::class)
    fun openInto(blob: ByteBuffer, out: ByteBuffer): Int {
        val len = blob.remaining()
        if (len < ENVELOPE_OVERHEAD) throw SyncException.EnvelopeTooShort(len.toULong())
        val n = len - ENVELOPE_OVERHEAD
        when (val rc = callDirect(blob, "blob", out, n, AzmxFastLib::azmx_uniffi_fast_open)) {
            AzmxFastLib.OK -> {}
            AzmxFastLib.ENVELOPE_TOO_SHORT -> throw SyncException.EnvelopeTooShort(len.toULong())
            AzmxFastLib.UNSUPPORTED_VERSION ->
                throw SyncException.UnsupportedVersion(blob.get(blob.position()).toUByte())
            AzmxFastLib.DECRYPT_FAILED -> throw SyncException.DecryptFailed()
            else -> throw internalError(rc)
        }
        blob.position(blob.limit())
        out.position(out.position() + n)
        return n
    }

    override fun close() {
        if (closed.compareAndSet(false, true) && calls.decrementAndGet() == 0L) cleanable.clean()
    }

    override fun toString() = "FastEnvelope(<redacted>)"
}

private fun internalError(rc: Int) =
    SyncException.Other("internal", "fast path failed with status $rc (${AzmxFastLib.azmx_status_name(rc)})")

/**
 * A [FastEnvelope] for this key (one uniffi call to take a reference; then
 * every seal/open is a single direct native call). Close it when done.
 */
fun EnvelopeKey.fast(): FastEnvelope {
    AzmxFastLib // load and check the fast-path ABI before taking a reference
    return FastEnvelope(callWithHandle { it })
}

/** One-off [FastEnvelope.seal]; for loops keep a [fast] instance instead. */
fun EnvelopeKey.sealFast(plaintext: ByteArray): ByteArray = fast().use { it.seal(plaintext) }

/** One-off [FastEnvelope.open]; for loops keep a [fast] instance instead. */
@Throws(SyncException::class)
fun EnvelopeKey.openFast(blob: ByteArray): ByteArray = fast().use { it.open(blob) }
