"""DeviceIdentity, signed canonicals, verify_signed, fingerprints."""

import base64
import os
import stat
import time

import pytest

import azmx_sync
from azmx_sync import DeviceIdentity, KeyFileProblem, SyncError

SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture
def key_path(tmp_path):
    return str(tmp_path / "device.key")


def test_load_or_create_persists_0600(key_path):
    a = DeviceIdentity.load_or_create(key_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    b = DeviceIdentity.load_or_create(key_path)
    c = DeviceIdentity.load(key_path)
    assert a.public_key() == b.public_key() == c.public_key()
    assert len(b64url_decode(a.public_key())) == 32
    fp = a.fingerprint()
    assert len(fp) == 19 and fp.count("-") == 3
    assert azmx_sync.fingerprint_of(a.public_key()) == fp


def test_identity_prints_no_private_key(key_path):
    ident = DeviceIdentity.load_or_create(key_path)
    seed = open(key_path, "rb").read()[8:40]
    encodings = {
        seed.hex(),
        base64.b64encode(seed).decode(),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
        repr(seed),
        str(list(seed)),
    }
    for text in (repr(ident), str(ident)):
        assert "<redacted>" in text and ident.public_key() in text
        for enc in encodings:
            assert enc not in text
    public = [n for n in dir(ident) if not n.startswith("_")]
    assert sorted(public) == ["fingerprint", "load", "load_or_create", "public_key", "sign_canonical"]


def test_key_file_problems_are_typed(tmp_path, key_path):
    with pytest.raises(SyncError.KeyFile) as e:
        DeviceIdentity.load_or_create(str(tmp_path / "missing-dir" / "device.key"))
    assert e.value.problem == KeyFileProblem.MISSING_DIRECTORY()
    assert "missing-dir" in e.value.path

    with pytest.raises(SyncError.KeyFile) as e:
        DeviceIdentity.load(key_path)  # load never creates
    assert e.value.problem == KeyFileProblem.IO()

    DeviceIdentity.load_or_create(key_path)
    os.chmod(key_path, 0o644)
    with pytest.raises(SyncError.KeyFile) as e:
        DeviceIdentity.load_or_create(key_path)
    assert e.value.problem == KeyFileProblem.INSECURE_PERMISSIONS(mode=0o644)

    os.chmod(key_path, 0o600)
    data = bytearray(open(key_path, "rb").read())
    data[20] ^= 1
    open(key_path, "wb").write(bytes(data))
    with pytest.raises(SyncError.KeyFile) as e:
        DeviceIdentity.load(key_path)
    assert e.value.problem == KeyFileProblem.CORRUPT()


def test_sign_and_verify(key_path):
    ident = DeviceIdentity.load_or_create(key_path)
    now = int(time.time())
    canonical = f"push|dev_1|42|{SHA}|{now}"
    sig = ident.sign_canonical(canonical)
    assert len(b64url_decode(sig)) == 64
    v = azmx_sync.verify_signed(ident.public_key(), canonical, sig, now + 10)
    assert (v.verb, v.device_id, v.ts) == ("push", "dev_1", now)
    v = azmx_sync.verify_signed(ident.public_key(), f"init|lic|{ident.public_key()}|laptop|{now}",
                                ident.sign_canonical(f"init|lic|{ident.public_key()}|laptop|{now}"), now)
    assert v.verb == "init" and v.device_id is None


def test_sign_refuses_non_canonicals(key_path):
    ident = DeviceIdentity.load_or_create(key_path)
    for bad in ("anything goes", "push|dev_1|01|%s|1" % SHA, "devices|a|b|1", ""):
        with pytest.raises(SyncError.MalformedField):
            ident.sign_canonical(bad)


def test_verify_errors_are_typed(key_path, tmp_path):
    ident = DeviceIdentity.load_or_create(key_path)
    other = DeviceIdentity.load_or_create(str(tmp_path / "other.key"))
    c = "devices|dev_1|1700000000"
    sig = ident.sign_canonical(c)
    with pytest.raises(SyncError.BadSignature):
        azmx_sync.verify_signed(other.public_key(), c, sig, 1_700_000_000)
    with pytest.raises(SyncError.BadSignature):
        azmx_sync.verify_signed(ident.public_key(), "devices|dev_2|1700000000", sig, 1_700_000_000)
    with pytest.raises(SyncError.ClockSkew) as e:
        azmx_sync.verify_signed(ident.public_key(), c, sig, 1_700_000_301)  # default ±300 s
    assert (e.value.skew_secs, e.value.max_secs) == (-301, 300)
    assert azmx_sync.verify_signed(ident.public_key(), c, sig, 1_700_000_301, 400).ts == 1_700_000_000
    with pytest.raises(SyncError.MalformedField) as e:
        azmx_sync.verify_signed("not-a-key", c, sig, 1_700_000_000)
    assert e.value.field == "publicKey"
    with pytest.raises(SyncError.MalformedField):
        azmx_sync.fingerprint_of("AAAA")
