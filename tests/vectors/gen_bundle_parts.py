#!/usr/bin/env python3
"""Generates tests/vectors/bundle-v1-parts.json (run once; the checks recompute it):
`python3 tests/vectors/gen_bundle_parts.py > tests/vectors/bundle-v1-parts.json`.
Plaintexts are in the field order the engine's serializer writes (prev and part only when set)."""
import json, hashlib, base64
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = bytes(range(0x40, 0x60))
lid = "lic_0001"; dev = "dev_3f2a91c077de0b14"; peer = "dev_77de0b143f2a91c0"
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def seal(iv, pt): return b"\x01" + iv + AESGCM(key).encrypt(iv, pt, None)
def dumps(o): return json.dumps(o, separators=(",", ":"), ensure_ascii=False)
def body(**kv): return dict(sorted(kv.items()))  # the engine writes bodies canonical: keys sorted
mem = lambda i, t, v, text: {"id": i, "updatedAt": t, "version": v, "deleted": False, "deviceId": dev, "body": body(text=text)}
snip = lambda i, t, text: {"id": i, "scope": "work", "updatedAt": t, "deleted": False, "deviceId": dev, "body": body(title=i, text=text)}
def bundle(seq, cp, t, stores, prev=None, peers=None, part=None):
    b = {"format": "azmx.bundle.v1", "licenseId": lid, "deviceId": dev, "seq": seq, "checkpoint": cp,
         "createdAtMs": t, "stores": [{"store": s, "records": r} for s, r in stores]}
    if prev is not None: b["prev"] = {"seq": prev[0], "sha256": prev[1]}
    b["peers"] = peers if peers is not None else {}
    if part is not None: b["part"] = {"first": part[0], "index": part[1], "last": part[2]}
    return b
t0 = 1764288000000; peers = {peer: 12}
# One checkpoint's records in (store, key) order, cut inside "memory" and inside "snippets".
contents = [
 [("memory", [mem("m01", t0 - 9000, 3, "prefers tabs"), mem("m02", t0 - 8000, 1, "answers in French")])],
 [("memory", [mem("m03", t0 - 7000, 7, "café hours: 8–12")]), ("snippets", [snip("s1", t0 - 6000, "Regards,\nA.")])],
 [("snippets", [snip("s2", t0 - 5000, "TODO: {x}"), snip("s3", t0 - 4000, "")])],
]
sealed, prev = [], None
for i, stores in enumerate(contents):
    seq = 40 + i
    b = bundle(seq, i == 0, t0 + i * 1000, stores, prev=prev, peers=peers, part=(40, i, i == len(contents) - 1))
    iv = bytes([seq]) * 12; pt = dumps(b).encode(); blob = seal(iv, pt)
    sealed.append({"iv_hex": iv.hex(), "plaintext": pt.decode(), "envelope_b64u": b64u(blob), "blob_sha256": hashlib.sha256(blob).hexdigest()})
    prev = (seq, sealed[-1]["blob_sha256"])
d = bundle(43, False, t0 + 60000, [("snippets", [snip("s2", t0 + 59000, "TODO: {y}")])], prev=prev, peers={peer: 13})
iv = bytes([43]) * 12; pt = dumps(d).encode(); blob = seal(iv, pt)
delta = {"iv_hex": iv.hex(), "plaintext": pt.decode(), "envelope_b64u": b64u(blob), "blob_sha256": hashlib.sha256(blob).hexdigest()}

one = [("snippets", [snip("s9", t0, "x")])]; sha = "ab" * 32
def case(name, b, field=None):
    x = {"name": name, "seq": b["seq"], "plaintext": dumps(b)}
    if field: x["field"] = field
    return x
refuse = [
 case("index 0 without checkpoint: true", bundle(50, False, t0, one, part=(50, 0, False)), "part"),
 case("index 0 whose first is not its seq", bundle(50, True, t0, one, part=(49, 0, False)), "part"),
 case("a later index with checkpoint: true", bundle(51, True, t0, one, prev=(50, sha), part=(50, 1, False)), "part"),
 case("a later index whose first is its own seq", bundle(51, False, t0, one, prev=(50, sha), part=(51, 1, True)), "part"),
 case("a later index whose first is after its seq", bundle(51, False, t0, one, prev=(50, sha), part=(52, 1, True)), "part"),
 case("a later index without prev", bundle(51, False, t0, one, part=(50, 1, True)), "part"),
]
accept = [
 case("a whole checkpoint: no part", bundle(50, True, t0, one)),
 case("a delta: no part", bundle(51, False, t0, one, prev=(50, sha))),
]
out = {
 "description": "Checkpoints in parts, docs/PROTOCOL.md section 6: `parts`, one checkpoint of one device sealed as three bundles (seqs 40-42; part.first 40, index 0-2, last on the third; the first is checkpoint: true without prev, the others checkpoint: false with prev = seq and SHA-256 of the part before's sealed blob; records in (store, key) order across parts, key = id or scope U+001F id), then `delta`, the next bundle chained to the last part. `refuse`: bundle plaintexts found at `seq` whose part disagrees; a reader refuses each as context_mismatch with `field`. `accept`: plaintexts the same rules let through. Every plaintext is in the engine's own serialisation, byte for byte.",
 "key_hex": key.hex(), "license_id": lid, "device_id": dev,
 "parts": sealed, "delta": delta, "refuse": refuse, "accept": accept}
print(json.dumps(out, indent=1, ensure_ascii=False))
