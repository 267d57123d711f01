#!/usr/bin/env python3
"""Writes the fuzz seed corpora (fuzz/corpus/<target>/) from the published
wire vectors (tests/vectors/wire-v1.json) plus a few hand-made bundles,
records and export payloads bound to the same license and device.

Seeds are small and regenerated on every run (the corpus directory is not
committed); libFuzzer adds what it finds next to them. Python 3 stdlib only.
Usage: python3 fuzz/seeds.py [CORPUS_DIR]   (default fuzz/corpus)
"""
import base64
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "tests/vectors/wire-v1.json").read_text(encoding="utf-8"))
# The fuzz targets' fixed context (fuzz/src/lib.rs).
LICENSE_ID, OWNER, SEQ = "lic_0001", "dev_a1b2c3", 7


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def records():
    return [
        {"id": "s1", "scope": "default", "updatedAt": 1764288000000, "deleted": False,
         "deviceId": OWNER, "body": {"text": "hello"}},
        {"id": "s1", "scope": "default", "updatedAt": 1764288000001, "deleted": True,
         "deviceId": "dev_b"},
        {"id": "session-1", "updatedAt": 1764288000000, "deleted": False, "deviceId": OWNER,
         "body": [{"id": "1", "content": "write", "status": "in_progress"}]},
        {"id": "editor.indent", "updatedAt": 1764288000000, "version": 3, "deleted": False,
         "deviceId": OWNER, "body": "four spaces"},
        {"id": "m", "updatedAt": 9223372036854775807, "version": 18446744073709551615,
         "deleted": True, "deviceId": "dev_evil"},
    ]


def stores():
    r = records()
    return [
        {"store": "snippets", "records": r[0:2]},
        {"store": "todos", "records": [r[2]]},
        {"store": "memory", "records": r[3:5]},
    ]


def seeds():
    out = {t: [] for t in ("envelope", "b64", "canonical", "canonical_roundtrip", "bundle",
                           "merge", "relay_parse", "export_import")}
    for v in VECTORS["envelope"]:
        out["envelope"].append(b64u_decode(v["envelope_b64u"]))
        out["b64"].append(v["envelope_b64u"].encode())
    for v in VECTORS["invalid_envelope"]:
        out["b64"].append(v["envelope_b64u"].encode())
        try:
            out["envelope"].append(b64u_decode(v["envelope_b64u"]))
        except ValueError:
            pass
    for v in VECTORS["signature"]:
        out["b64"] += [v["public_key_b64u"].encode(), v["signature_b64u"].encode()]
        out["canonical"].append(
            "\n".join((v["canonical"], v["public_key_b64u"], v["signature_b64u"])).encode())
        out["canonical"].append(v["canonical"].encode())
    for checkpoint in (False, True):
        out["bundle"].append(json.dumps({
            "format": "azmx.bundle.v1", "licenseId": LICENSE_ID, "deviceId": OWNER, "seq": SEQ,
            "checkpoint": checkpoint, "createdAtMs": 1764288000000, "stores": stores(),
        }, separators=(",", ":")).encode())
    for v in VECTORS["envelope"]:
        plain = bytes.fromhex(v["plaintext_hex"])
        if plain.startswith(b"{"):
            out["bundle"].append(plain)
    payload = {"format": "azmx.export.v1", "licenseId": LICENSE_ID, "stores": stores()}
    out["export_import"].append(b"\x01" + json.dumps(payload).encode())
    header = {"format": "azmx.export.v1", "licenseId": LICENSE_ID, "createdAtMs": 0,
              "stores": ["snippets"], "records": 1}
    blob = VECTORS["envelope"][1]["envelope_b64u"]
    out["export_import"].append(
        b"\x00" + f"azmx-export v1\n{json.dumps(header)}\n{blob}\n".encode())
    # Structured targets (merge, canonical_roundtrip, relay_parse) read their
    # input as a choice stream: any bytes are a valid start.
    for t in ("merge", "canonical_roundtrip", "relay_parse"):
        out[t] += [bytes(range(i, i + 64)) for i in (0, 64, 128)]
    out["merge"].append(b"\x00\x01\x00" + json.dumps(records()).encode())
    return out


def main():
    corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz/corpus"
    total = 0
    for target, items in seeds().items():
        d = corpus / target
        d.mkdir(parents=True, exist_ok=True)
        for data in items:
            # Named by content hash, as libFuzzer names its own finds.
            (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
            total += 1
    print(f"fuzz seeds: {total} files in {corpus}")


if __name__ == "__main__":
    main()
