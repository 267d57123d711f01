"""Seal a snippet the way a device does before a push, and read it back.

    pip install ./bindings/python        # see bindings/python/README.md
    python examples/python/seal_snippet.py

Uses the crypto surface of azmx_sync: the envelope key (derived from the
recovery receipt, never exported), the device identity (private key stays in
its 0600 file), blob integrity and the signed push canonical, then merges the
snippet into a local store. The two-device relay version comes with the sync
engine bindings.
"""

import json
import os
import tempfile
import time

import azmx_sync

RECEIPT = os.environ.get("AZMX_RECEIPT", "demo-recovery-receipt-0000")
LICENSE = os.environ.get("AZMX_LICENSE", "lic_demo")


def main() -> None:
    key = azmx_sync.EnvelopeKey.derive(RECEIPT, LICENSE)  # ~100 ms, once per session
    with tempfile.TemporaryDirectory() as home:
        device = azmx_sync.DeviceIdentity.load_or_create(os.path.join(home, "device.key"))
        print(f"device {device.fingerprint()}  key {key}")

        snippet = azmx_sync.SyncRecord(
            id="greeting", scope="alice", updated_at=int(time.time() * 1000), version=None,
            deleted=False, device_id="dev_laptop", body=json.dumps({"text": "Hello from Python"}),
        )
        plaintext = json.dumps({"snippets": [snippet.body]}).encode()
        blob = azmx_sync.seal_fast(key, plaintext)  # the bulk path; key.seal() gives the same blob format
        sha = azmx_sync.sha256_hex(blob)
        canonical = f"push|dev_laptop|1|{sha}|{int(time.time())}"
        signature = device.sign_canonical(canonical)
        print(f"sealed {len(plaintext)} -> {len(blob)} bytes, sha256 {sha[:16]}...")
        print(f"signed {canonical.rsplit('|', 1)[0]}|... ({len(signature)} chars)")

        # What the relay checks, and what the other device does on pull.
        azmx_sync.verify_signed(device.public_key(), canonical, signature, int(time.time()))
        azmx_sync.verify_blob(sha, blob)
        assert azmx_sync.open_fast(key, blob) == plaintext
        try:
            azmx_sync.verify_blob(sha, blob[:-1] + b"\0")
        except azmx_sync.SyncError.BlobIntegrityError:
            print("a corrupted blob is a BlobIntegrityError, not a decrypt failure")

        store = azmx_sync.builtin_store("snippets")
        out = azmx_sync.merge_records(store, local=[], incoming=[snippet])
        for change in out.changes:
            print(f"{change.op.name.lower()} {change.record.scope}/{change.record.id}: {change.record.body}")


if __name__ == "__main__":
    main()
