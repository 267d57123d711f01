"""Two devices, one local relay: a snippet written on one shows up on the other.

    cargo build -p azmx-sync-cli && pip install ./bindings/python
    python examples/python/two_devices.py [path/to/azmx-sync]

Starts `azmx-sync relay serve` on loopback with a fresh license, then runs
two SyncEngines with Python store adapters (the laptop with a Python urllib
transport, the desktop with the built-in one).

bindings/python/tests/test_engine.py imports `cli_path`, `local_relay` and
`UrllibTransport` from here, so the tests run this code too.
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import azmx_sync

RECEIPT = "RCPT-example-7F3A-99C2"
LICENSE = "lic_example"


class DictStore(azmx_sync.StoreAdapter):
    """Records by (scope, id), tombstones kept."""

    def __init__(self):
        self.records = {}

    def snapshot(self):
        return list(self.records.values())

    def apply(self, changes):
        for c in changes:
            self.records[(c.record.scope, c.record.id)] = c.record


def cli_path():
    """The workspace's `azmx-sync` debug build (AZMX_SYNC_BIN names another)."""
    if os.environ.get("AZMX_SYNC_BIN"):
        return os.environ["AZMX_SYNC_BIN"]
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    return os.path.join(target, "debug", "azmx-sync")


@contextlib.contextmanager
def local_relay(exe, license_id):
    """`azmx-sync relay serve` on a free loopback port, with a fresh license.

    Yields (relay URL, license key); stops the relay on exit.
    """
    data = tempfile.mkdtemp(prefix="azmx-example-relay-")
    out = subprocess.run([exe, "relay", "license", "add", license_id, "--data-dir", data],
                         check=True, capture_output=True, text=True).stdout
    license_key = out.split()[-1]
    relay = subprocess.Popen([exe, "relay", "serve", "--data-dir", data, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = relay.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the relay did not start: {line!r}")
        yield line.split()[-1], license_key
    finally:
        relay.terminate()
        relay.wait(timeout=10)


class UrllibTransport(azmx_sync.HttpTransport):
    def send(self, request):
        # A POST without a body still sends one (Content-Length: 0).
        data = bytes(request.body) if request.body or request.method not in ("GET", "HEAD") else None
        req = urllib.request.Request(request.url, data=data, method=request.method)
        for h in request.headers:
            req.add_header(h.name, h.value)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, headers, body = r.status, r.getheaders(), r.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers.items(), e.read()
        return azmx_sync.HttpResponse(
            status=status, headers=[azmx_sync.HttpHeader(name=k, value=v) for k, v in headers], body=body
        )


class Printer(azmx_sync.ActivityListener):
    def __init__(self, name):
        self.name = name

    def on_event(self, event):
        if event.type_name in ("pushed", "applied"):
            print(f"  [{self.name}] {event.json}")


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else cli_path()
    with local_relay(exe, LICENSE) as (url, license_key):
        print(f"relay at {url}")
        devices = []
        for name, transport in (("laptop", UrllibTransport()), ("desktop", None)):
            engine = azmx_sync.SyncEngine(tempfile.mkdtemp(prefix=f"azmx-example-{name}-"), transport)
            store = DictStore()
            engine.register_snippets(store)
            engine.add_listener(Printer(name))
            device_id = engine.register(url, LICENSE, license_key, name)
            engine.set_receipt(RECEIPT)
            engine.verify_receipt()
            print(f"{name}: {engine}")
            devices.append((engine, store, device_id))

        (laptop, laptop_store, laptop_id), (desktop, desktop_store, _) = devices
        laptop_store.records[("alice", "greeting")] = azmx_sync.SyncRecord(
            id="greeting", scope="alice", updated_at=int(time.time() * 1000), version=None,
            deleted=False, device_id=laptop_id, body=json.dumps({"text": "hello from the laptop"}))
        print(f"laptop sync: {laptop.sync_now()}")
        print(f"desktop sync: {desktop.sync_now()}")
        seen = desktop_store.records[("alice", "greeting")]
        print(f"desktop sees: {json.loads(seen.body)['text']!r} (written by {seen.device_id})")
        assert json.loads(seen.body)["text"] == "hello from the laptop"


if __name__ == "__main__":
    main()
