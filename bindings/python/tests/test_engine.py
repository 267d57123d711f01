"""SyncEngine with Python host traits, against a real relay on loopback.

The relay is the workspace CLI (`azmx-sync relay serve`), started once per
module as a child process. One device uses a Python store adapter and a
Python (urllib) HTTP transport, the other the same store adapter and the
built-in transport.
"""

import json
import os
import sys
import tempfile
import threading
import time

import pytest

import azmx_sync
from azmx_sync import (
    ActivityListener,
    ChangeOp,
    HttpTransport,
    MergeContract,
    StoreAdapter,
    SyncEngine,
    SyncError,
    SyncRecord,
)

RECEIPT = "RCPT-py-engine-7F3A-99C2-Secret"
LICENSE = "lic_py_engine"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

# The relay launcher and the urllib transport are the two-device example's.
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))
import two_devices  # noqa: E402


@pytest.fixture(scope="module")
def relay():
    exe = two_devices.cli_path()
    if not os.path.exists(exe):
        pytest.fail(f"{exe} missing: cargo build -p azmx-sync-cli")
    with two_devices.local_relay(exe, LICENSE) as (url, license_key):
        yield {"url": url, "license_key": license_key}


class DictStore(StoreAdapter):
    """A store kept in a dict; tombstones are kept (apply stores every record)."""

    def __init__(self):
        self.records = {}
        self.lock = threading.Lock()
        self.applied = []

    def put(self, rec):
        with self.lock:
            self.records[(rec.scope, rec.id)] = rec

    def live(self):
        with self.lock:
            return {k: r for k, r in self.records.items() if not r.deleted}

    def snapshot(self):
        with self.lock:
            return list(self.records.values())

    def apply(self, changes):
        with self.lock:
            for c in changes:
                self.applied.append(c.op)
                self.records[(c.record.scope, c.record.id)] = c.record


class FailingStore(StoreAdapter):
    def snapshot(self):
        raise RuntimeError("disk on fire")

    def apply(self, changes):
        raise RuntimeError("disk on fire")


class UrllibTransport(two_devices.UrllibTransport):
    """The example's transport, counting the requests it carries."""

    def __init__(self):
        self.requests = 0

    def send(self, request):
        self.requests += 1
        return super().send(request)


class BrokenTransport(HttpTransport):
    def send(self, request):
        raise ConnectionRefusedError("no route to relay")


class Events(ActivityListener):
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)

    def types(self):
        return [e.type_name for e in self.events]


def now_ms():
    return int(time.time() * 1000)


def snippet(dev, sid, text, at, deleted=False):
    return SyncRecord(
        id=sid, scope="alice", updated_at=at, version=None, deleted=deleted,
        device_id=dev, body=None if deleted else json.dumps({"text": text}),
    )


def make_device(relay, name, transport=None, receipt=RECEIPT):
    state = tempfile.mkdtemp(prefix=f"azmx-py-{name}-")
    engine = SyncEngine(state, transport)
    store = DictStore()
    engine.register_snippets(store)
    device_id = engine.register(relay["url"], LICENSE, relay["license_key"], name)
    engine.set_receipt(receipt)
    return engine, store, device_id, state


@pytest.fixture(scope="module")
def pair(relay):
    transport = UrllibTransport()
    a, a_store, a_id, a_dir = make_device(relay, "py-laptop", transport)
    b, b_store, b_id, b_dir = make_device(relay, "py-desktop")
    a.verify_receipt()  # first device: sets the license's key check
    b.verify_receipt()
    return dict(a=a, a_store=a_store, a_id=a_id, a_dir=a_dir, b=b, b_store=b_store,
                b_id=b_id, transport=transport)


def test_two_devices_converge(pair):
    a, b, a_store, b_store = pair["a"], pair["b"], pair["a_store"], pair["b_store"]
    t = now_ms()
    a_store.put(snippet(pair["a_id"], "s1", "hello from python", t))
    a_store.put(snippet(pair["a_id"], "s2", "second", t))
    rep = a.sync_now()
    assert rep.pushed_records == 2 and rep.pushed_seq is not None and rep.sealed_bytes > 0
    assert pair["transport"].requests > 0  # the Python transport carried it

    rep = b.sync_now()
    assert rep.pulled_blobs >= 1 and rep.applied_changes == 2
    assert json.loads(b_store.live()[("alice", "s1")].body) == {"text": "hello from python"}
    assert set(b_store.applied) == {ChangeOp.INSERT}

    # A delete on B (a tombstone) reaches A; an edit on A reaches B.
    b_store.put(snippet(pair["b_id"], "s1", None, t + 10, deleted=True))
    b.sync_now()
    a.sync_now()
    assert ("alice", "s1") not in a_store.live()
    assert a_store.records[("alice", "s1")].deleted
    a_store.put(snippet(pair["a_id"], "s2", "edited", t + 20))
    a.sync_now()
    b.sync_now()
    assert json.loads(b_store.live()[("alice", "s2")].body) == {"text": "edited"}
    assert {k: json.loads(r.body) for k, r in a_store.live().items()} == {
        k: json.loads(r.body) for k, r in b_store.live().items()
    }


def test_wrong_receipt_is_typed(relay, pair):
    c, _, _, _ = make_device(relay, "py-wrong", receipt="not the receipt")
    with pytest.raises(SyncError.WrongReceipt):
        c.verify_receipt()
    with pytest.raises(SyncError.WrongReceipt):
        c.sync_now()


def test_adapter_exception_arrives_typed(relay, pair):
    engine = SyncEngine(tempfile.mkdtemp(prefix="azmx-py-fail-"), None)
    engine.register_custom_store("notes", MergeContract.LWW_BY_TIME, FailingStore())
    engine.register(relay["url"], LICENSE, relay["license_key"], "py-failing")
    engine.set_receipt(RECEIPT)
    with pytest.raises(SyncError.StoreFailed) as e:
        engine.sync_now()
    assert e.value.store == "notes" and "disk on fire" in e.value.detail
    # The engine is still usable afterwards.
    assert engine.status().device_id == engine.device_id()


def test_transport_exception_arrives_typed(relay):
    engine = SyncEngine(tempfile.mkdtemp(prefix="azmx-py-net-"), BrokenTransport())
    with pytest.raises(SyncError.Network) as e:
        engine.register(relay["url"], LICENSE, relay["license_key"], "py-offline")
    assert "no route to relay" in e.value.detail


def test_activity_events_reach_a_python_listener(pair):
    a, a_store = pair["a"], pair["a_store"]
    events = Events()
    a.add_listener(events)
    a_store.put(snippet(pair["a_id"], "s3", "observed", now_ms()))
    a.sync_now()
    types = events.types()
    assert types[0] == "cycleStarted" and "pushed" in types and types[-1] == "cycleFinished"
    for e in events.events:
        parsed = json.loads(e.json)
        assert parsed["type"] == e.type_name and parsed["atMs"] == e.at_ms
        assert "observed" not in e.json  # events never carry bodies
    recent = a.recent_activity(5)
    assert len(recent) == 5 and recent[-1].type_name == "cycleFinished"


def test_engine_prints_nothing_secret(relay, pair):
    a = pair["a"]
    for text in (repr(a), str(a), f"{a}"):
        assert text == f"SyncEngine(device_id={pair['a_id']})"
        assert RECEIPT not in text and relay["license_key"] not in text
    assert str(SyncEngine(tempfile.mkdtemp(), None)) == "SyncEngine(unregistered)"
    public = [n for n in dir(a) if not n.startswith("_")]
    assert not [n for n in public if "receipt" in n and n not in ("set_receipt", "verify_receipt")]
    assert not [n for n in public if "key" in n and n != "public_key"]
    status = a.status()
    assert status.receipt_set and RECEIPT not in status.json
    assert relay["license_key"] not in status.json
    state_files = "".join(
        open(os.path.join(pair["a_dir"], f), "rb").read().decode("latin-1")
        for f in os.listdir(pair["a_dir"]) if os.path.isfile(os.path.join(pair["a_dir"], f))
    )
    assert RECEIPT not in state_files and relay["license_key"] not in state_files


def test_status_devices_export_import(relay, pair):
    a, b = pair["a"], pair["b"]
    st = a.status()
    assert st.device_id == pair["a_id"] and st.license_id == LICENSE
    assert st.relay_url == relay["url"] and st.fingerprint == a.fingerprint()
    assert json.loads(st.json)["deviceId"] == pair["a_id"]
    ids = {d.device_id for d in a.devices()}
    assert {pair["a_id"], pair["b_id"]} <= ids
    path = os.path.join(tempfile.mkdtemp(), "export.azmx")
    n = a.export_to(path)
    assert n >= 2 and os.path.getsize(path) > 0
    # Importing into a fresh device of the same license restores the records.
    c, c_store, _, _ = make_device(relay, "py-restore")
    assert 1 <= c.import_from(path) <= n
    assert ("alice", "s2") in c_store.live()
    with pytest.raises(SyncError.Config):
        c.register_snippets(DictStore())


def test_revoked_device_is_typed(relay, pair):
    d, _, d_id, _ = make_device(relay, "py-lost")
    d.sync_now()
    pair["a"].revoke(d_id)
    with pytest.raises(SyncError.Revoked):
        d.sync_now()
    assert d.status().revoked


def test_receipt_before_register_is_kept_for_it(relay):
    # The receipt may come first: register then checks it against the
    # license's authority key (a license without one registers as before).
    e = SyncEngine(tempfile.mkdtemp(prefix="azmx-py-first-"), None)
    e.set_receipt(RECEIPT)
    assert e.status().receipt_set
    e.register(relay["url"], LICENSE, relay["license_key"], "py-receipt-first")
    e.verify_receipt()


def test_not_registered_and_no_receipt(relay):
    e = SyncEngine(tempfile.mkdtemp(prefix="azmx-py-new-"), None)
    with pytest.raises(SyncError.NotRegistered):
        e.sync_now()
    with pytest.raises(SyncError.NotRegistered):
        e.devices()
    e.register(relay["url"], LICENSE, relay["license_key"], "py-noreceipt")
    with pytest.raises(SyncError.NoReceipt):
        e.sync_now()


def test_background_scheduler_start_trigger_stop(pair):
    b, b_store = pair["b"], pair["b_store"]
    events = Events()
    b.add_listener(events)
    b.set_interval_secs(30)
    b.set_visible(True)
    b.start()
    b.trigger()
    deadline = time.time() + 20
    while "cycleFinished" not in events.types() and time.time() < deadline:
        time.sleep(0.05)
    b.set_visible(False)
    b.stop()
    assert "cycleFinished" in events.types()
