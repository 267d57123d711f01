"""EnvelopeKey, seal/open (uniffi and fast paths), blob integrity, typed errors."""

import base64
import gc
import hashlib
import os
import threading

import pytest

import azmx_sync
from azmx_sync import EnvelopeKey, SyncError

from conftest import LICENSE, RECEIPT


def test_derive_trims_ascii_whitespace_only(key):
    assert EnvelopeKey.derive(f" \t{RECEIPT}\r\n", LICENSE) == key
    assert EnvelopeKey.derive("\u00a0" + RECEIPT, LICENSE) != key
    assert EnvelopeKey.derive(RECEIPT, LICENSE + "x") != key


def test_derive_empty_inputs_are_typed():
    with pytest.raises(SyncError.EmptyReceipt):
        EnvelopeKey.derive(" \n ", LICENSE)
    with pytest.raises(SyncError.EmptyLicenseId):
        EnvelopeKey.derive(RECEIPT, "")


def test_key_prints_nothing_secret(key):
    for text in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert text == "EnvelopeKey(<redacted>)"
        assert RECEIPT not in text and LICENSE not in text
    # Nothing in the public surface hands out key bytes.
    public = [n for n in dir(key) if not n.startswith("_")]
    assert sorted(public) == ["derive", "open", "open_fast", "open_text", "seal", "seal_fast", "seal_text"]


def test_seal_open_round_trip(key):
    for msg in (b"", b"x", b"hello snippets", os.urandom(5000)):
        blob = key.seal(msg)
        assert len(blob) == len(msg) + 29 and blob[0] == 1
        assert key.open(blob) == msg
        assert key.seal(msg) != blob  # fresh IV per seal


def test_text_form_is_unpadded_base64url(key):
    text = key.seal_text(b"\xfb\xff snippet")
    assert "=" not in text and "+" not in text and "/" not in text
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    assert key.open(raw) == b"\xfb\xff snippet"
    assert key.open_text(text) == b"\xfb\xff snippet"
    with pytest.raises(SyncError.InvalidBase64):
        key.open_text(text + "=")
    with pytest.raises(SyncError.InvalidBase64):
        key.open_text("+/8")


def test_open_errors_in_check_order(key, other_key):
    with pytest.raises(SyncError.EnvelopeTooShort) as e:
        key.open(b"\x01" * 28)
    assert e.value.len == 28
    with pytest.raises(SyncError.UnsupportedVersion) as e:
        key.open(b"\x02" * 29)
    assert e.value.version == 2
    blob = key.seal(b"secret plaintext")
    with pytest.raises(SyncError.DecryptFailed):
        other_key.open(blob)  # a wrong receipt is a decrypt failure
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(SyncError.DecryptFailed) as e:
        key.open(bytes(tampered))
    assert "secret plaintext" not in str(e.value) and "secret plaintext" not in repr(e.value)


def test_sha256_and_verify_blob(key):
    blob = key.seal(b"payload")
    digest = azmx_sync.sha256_hex(blob)
    assert digest == hashlib.sha256(blob).hexdigest()
    assert azmx_sync.verify_blob(digest, blob) is None
    corrupted = blob[:-1] + bytes([blob[-1] ^ 0x80])
    with pytest.raises(SyncError.BlobIntegrityError) as e:
        azmx_sync.verify_blob(digest, corrupted)
    assert e.value.expected == digest
    assert e.value.actual == hashlib.sha256(corrupted).hexdigest()
    assert not isinstance(e.value, SyncError.DecryptFailed)
    with pytest.raises(SyncError.BlobIntegrityError):
        azmx_sync.verify_blob(digest.upper(), blob)


def test_error_variants_are_distinct_types():
    names = [
        "EmptyReceipt", "EmptyLicenseId", "InvalidBase64", "EnvelopeTooShort",
        "UnsupportedVersion", "DecryptFailed", "WrongReceipt", "BlobIntegrityError",
        "KeyFile", "MalformedField", "BadSignature", "ClockSkew", "Revoked",
        "InvalidJson", "InvalidTodos", "InvalidStoreName", "UnknownStore",
        "BuiltinStoreRedefined", "HostCallback", "Other",
    ]
    classes = [getattr(SyncError, n) for n in names]
    assert len(set(classes)) == len(names)
    for c in classes:
        assert issubclass(c, SyncError) and issubclass(c, Exception)
    for a in classes:
        for b in classes:
            assert (a is b) == issubclass(a, b)


# --- fast path ---------------------------------------------------------------

SIZES = [0, 1, 15, 16, 17, 1024, 4096 + 3, 1 << 20]


@pytest.mark.parametrize("size", SIZES)
def test_fast_round_trip_and_interop(key, size):
    msg = os.urandom(size)
    fast_blob = azmx_sync.seal_fast(key, msg)
    assert len(fast_blob) == size + 29 and fast_blob[0] == 1
    assert type(fast_blob) is bytes
    assert azmx_sync.open_fast(key, fast_blob) == msg
    if size <= 4096:  # the uniffi path is slow for big payloads
        assert key.open(fast_blob) == msg
        assert key.open_fast(key.seal(msg)) == msg


def test_fast_methods_and_buffer_inputs(key):
    msg = b"bytes-like inputs"
    for data in (bytearray(msg), memoryview(msg)):
        blob = key.seal_fast(data)
        assert key.open_fast(bytearray(blob)) == msg
        assert key.open_fast(memoryview(blob)) == msg


def test_fast_errors_are_the_same_types(key, other_key):
    blob = key.seal_fast(b"fast secret")
    with pytest.raises(SyncError.DecryptFailed):
        other_key.open_fast(blob)
    tampered = bytearray(blob)
    tampered[14] ^= 1
    with pytest.raises(SyncError.DecryptFailed):
        key.open_fast(tampered)
    with pytest.raises(SyncError.EnvelopeTooShort) as e:
        key.open_fast(blob[:28])
    assert e.value.len == 28
    with pytest.raises(SyncError.UnsupportedVersion) as e:
        key.open_fast(b"\x07" + blob[1:])
    assert e.value.version == 7


def test_fast_refuses_wrong_types(key, tmp_path):
    ident = azmx_sync.DeviceIdentity.load_or_create(str(tmp_path / "device.key"))
    with pytest.raises(TypeError):
        azmx_sync.seal_fast(ident, b"x")  # another object's handle is never used
    with pytest.raises(TypeError):
        azmx_sync.open_fast(object(), b"x" * 40)
    with pytest.raises(TypeError):
        key.seal_fast("text, not bytes")


def test_fast_path_threads_and_lifetime():
    # Keys created and dropped while other threads seal/open with their own.
    errors = []

    def worker(i):
        try:
            k = EnvelopeKey.derive(f"receipt {i}", LICENSE)
            for j in range(200):
                msg = os.urandom(j * 7)
                assert k.open_fast(k.seal_fast(msg)) == msg
            del k
            gc.collect()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_fast_abi_version():
    # 2 since the fast path reports AzmxStatus numbers (one C status enum).
    assert azmx_sync.FAST_ABI_VERSION == 2
