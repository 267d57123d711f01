"""The fast bulk-bytes path for seal/open.

uniffi copies ``bytes`` across the boundary element by element (about
12 ms per MiB). ``seal_fast`` / ``open_fast`` call two plain C functions of
the same loaded ``libazmx_sync`` through ctypes instead: the input is passed
by pointer and the result is written straight into a new ``bytes`` object,
so a 1 MiB seal costs about what the AES-GCM itself costs.

The key never crosses as bytes: the C functions borrow the ``EnvelopeKey``'s
uniffi object handle for the duration of the call (the wrapper holds a
reference to the key object, and Python ``EnvelopeKey`` objects are only
freed by garbage collection, so the handle outlives the call). Errors are the
same typed ``SyncError`` variants the uniffi methods raise.
"""

from __future__ import annotations

import ctypes

from ._native import azmx_sync as _gen

EnvelopeKey = _gen.EnvelopeKey
SyncError = _gen.SyncError

#: Version of the C fast-path ABI these wrappers speak
#: (``azmx_uniffi_fast_abi_version()`` in ``bindings/ffi/src/uniffi_api/fast.rs``).
FAST_ABI_VERSION = 2

# Bytes a v1 envelope adds to its plaintext: version (1) + IV (12) + tag (16).
_OVERHEAD = 29

# The statuses these wrappers tell apart: AzmxStatus values (one status enum
# for the whole library, include/azmx_sync.h), checked by name at import.
_OK = 0
_ENVELOPE_TOO_SHORT = 13
_UNSUPPORTED_VERSION = 14
_DECRYPT_FAILED = 15

# The library the generated module loaded; dlopen of the same path returns
# the same mapping, so these calls run in the very same library instance.
# Two views of it: CDLL releases the GIL around each call (big payloads run
# in parallel with other Python threads); PyDLL keeps it, which is cheaper
# for small payloads whose call takes a few microseconds.
_lib = ctypes.CDLL(_gen._UniffiLib._name, handle=_gen._UniffiLib._handle)
_lib_gil = ctypes.PyDLL(_gen._UniffiLib._name, handle=_gen._UniffiLib._handle)

# Payloads up to this size are processed without releasing the GIL.
_GIL_RELEASE_THRESHOLD = 64 * 1024

_abi = _lib.azmx_uniffi_fast_abi_version
_abi.argtypes = []
_abi.restype = ctypes.c_uint32
if _abi() != FAST_ABI_VERSION:  # pragma: no cover - a mismatched build
    raise ImportError(
        f"libazmx_sync fast-path ABI {_abi()} != {FAST_ABI_VERSION} expected by azmx_sync"
    )

_status_name = _lib.azmx_status_name
_status_name.argtypes = [ctypes.c_int32]
_status_name.restype = ctypes.c_char_p
for _name, _value in [("OK", _OK), ("ENVELOPE_TOO_SHORT", _ENVELOPE_TOO_SHORT),
                      ("UNSUPPORTED_VERSION", _UNSUPPORTED_VERSION), ("DECRYPT_FAILED", _DECRYPT_FAILED)]:
    if _status_name(_value).decode() != _name:  # pragma: no cover - a mismatched build
        raise ImportError(f"libazmx_sync status {_value} is not {_name}")

_SIG = [
    ctypes.c_uint64,  # key handle (borrowed)
    ctypes.c_char_p,  # input pointer (bytes: no copy)
    ctypes.c_size_t,  # input length
    ctypes.c_char_p,  # output pointer (a fresh bytes object)
    ctypes.c_size_t,  # output capacity (exactly the result size)
    ctypes.c_void_p,  # out_len: NULL, the size is known in advance
]


def _bind(lib, name):
    fn = getattr(lib, name)
    fn.argtypes = _SIG
    fn.restype = ctypes.c_int32
    return fn


_seal, _seal_gil = _bind(_lib, "azmx_uniffi_fast_seal"), _bind(_lib_gil, "azmx_uniffi_fast_seal")
_open, _open_gil = _bind(_lib, "azmx_uniffi_fast_open"), _bind(_lib_gil, "azmx_uniffi_fast_open")

try:
    # An uninitialised bytes object of the exact size, filled by Rust before
    # anything else can see it (the C-API idiom
    # PyBytes_FromStringAndSize(NULL, n)); saves a copy of the result.
    _new_bytes_raw = ctypes.pythonapi.PyBytes_FromStringAndSize
    _new_bytes_raw.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    _new_bytes_raw.restype = ctypes.py_object

    def _new_bytes(n: int) -> bytes:
        return _new_bytes_raw(None, n)

    def _finish(buf: bytes, n: int) -> bytes:
        return buf

except (AttributeError, OSError):  # pragma: no cover - e.g. PyPy: one more copy

    def _new_bytes(n: int):  # type: ignore[misc]
        return ctypes.create_string_buffer(n)

    def _finish(buf, n: int) -> bytes:  # type: ignore[misc]
        return buf.raw[:n]


def _as_bytes(data) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError("seal_fast/open_fast take bytes-like data, not str")
    return bytes(data)


def _check_key(key) -> None:
    # Another object's handle would be read as an EnvelopeKey: refuse early.
    if not isinstance(key, EnvelopeKey):
        raise TypeError(f"expected azmx_sync.EnvelopeKey, got {type(key).__name__}")


def _internal(rc: int) -> Exception:
    name = _status_name(rc).decode()
    return SyncError.Other(code="internal", detail=f"fast path failed with status {rc} ({name})")


def seal_fast(key: EnvelopeKey, plaintext) -> bytes:
    """``key.seal(plaintext)`` without the per-byte uniffi copies.

    Returns the v1 envelope blob (``0x01 | iv | ciphertext | tag``).
    """
    _check_key(key)
    data = _as_bytes(plaintext)
    n = len(data)
    cap = n + _OVERHEAD
    out = _new_bytes(cap)
    fn = _seal_gil if n <= _GIL_RELEASE_THRESHOLD else _seal
    rc = fn(key._handle, data, n, out, cap, None)
    if rc != _OK:
        raise _internal(rc)
    return _finish(out, cap)


def open_fast(key: EnvelopeKey, blob) -> bytes:
    """``key.open(blob)`` without the per-byte uniffi copies.

    Raises the same typed errors: ``SyncError.EnvelopeTooShort``,
    ``SyncError.UnsupportedVersion``, ``SyncError.DecryptFailed``.
    """
    _check_key(key)
    data = _as_bytes(blob)
    n = len(data)
    if n < _OVERHEAD:
        raise SyncError.EnvelopeTooShort(len=n)
    cap = n - _OVERHEAD
    out = _new_bytes(cap)
    fn = _open_gil if n <= _GIL_RELEASE_THRESHOLD else _open
    rc = fn(key._handle, data, n, out, cap, None)
    if rc == _OK:
        return _finish(out, cap)
    if rc == _ENVELOPE_TOO_SHORT:
        raise SyncError.EnvelopeTooShort(len=n)
    if rc == _UNSUPPORTED_VERSION:
        raise SyncError.UnsupportedVersion(version=data[0])
    if rc == _DECRYPT_FAILED:
        raise SyncError.DecryptFailed()
    raise _internal(rc)


# Also available as methods: key.seal_fast(data), key.open_fast(blob).
EnvelopeKey.seal_fast = seal_fast  # type: ignore[attr-defined]
EnvelopeKey.open_fast = open_fast  # type: ignore[attr-defined]
