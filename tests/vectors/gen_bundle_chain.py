#!/usr/bin/env python3
"""Generates tests/vectors/bundle-v1-chain.json (run once; the checks recompute it):
`python3 tests/vectors/gen_bundle_chain.py > tests/vectors/bundle-v1-chain.json`."""
import json, hashlib, base64
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key = bytes(range(0x40, 0x60))
lid = "lic_0001"; dev = "dev_3f2a91c077de0b14"; peer = "dev_77de0b143f2a91c0"
def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def seal(iv, pt): return b"\x01" + iv + AESGCM(key).encrypt(iv, pt, None)
def dumps(o): return json.dumps(o, separators=(",", ":"), ensure_ascii=False)
rec = lambda i, t, text: {"id": i, "scope": "work", "updatedAt": t, "deleted": False, "deviceId": dev, "body": {"text": text}}
b1 = {"format":"azmx.bundle.v1","licenseId":lid,"deviceId":dev,"seq":1,"checkpoint":True,"createdAtMs":1764288000000,
      "stores":[{"store":"snippets","records":[rec("s1",1764287990000,"first")]}],"peers":{}}
iv1 = bytes([0x31]*12); pt1 = dumps(b1).encode(); blob1 = seal(iv1, pt1); sha1 = hashlib.sha256(blob1).hexdigest()
b2 = {"format":"azmx.bundle.v1","licenseId":lid,"deviceId":dev,"seq":2,"checkpoint":False,"createdAtMs":1764288060000,
      "stores":[{"store":"snippets","records":[rec("s2",1764288050000,"second")]}],
      "prev":{"seq":1,"sha256":sha1},"peers":{peer:12}}
iv2 = bytes([0x32]*12); pt2 = dumps(b2).encode(); blob2 = seal(iv2, pt2)
chain = [{"iv_hex": iv.hex(), "plaintext": pt.decode(), "envelope_b64u": b64u(blob), "blob_sha256": hashlib.sha256(blob).hexdigest()}
         for iv, pt, blob in [(iv1, pt1, blob1), (iv2, pt2, blob2)]]

def it(d, seq, outcome="open", cp=False, prev=None, peers=None, prev_sha=None):
    x = {"deviceId": d, "seq": seq, "outcome": outcome, "checkpoint": cp}
    if prev is not None: x["prev"] = {"seq": prev, "sha256": prev_sha or f"sha:{d}/{prev}"}
    if peers: x["peers"] = peers
    return x
A="dev_aaaaaaaaaaaaaaaa"; B="dev_bbbbbbbbbbbbbbbb"; R="dev_0000000000000000"
cases = [
 {"name":"honest: checkpoint, deltas, a prune, a resynchronised writer","cursor":"",
  "pages":[[it(A,1,cp=True),it(A,2,prev=1),it(A,3,"missing")],[it(A,6,cp=True),it(A,7,prev=6),it(A,9,prev=6)]],"expect":[]},
 {"name":"a dropped middle bundle","cursor":"","pages":[[it(A,1,cp=True),it(A,3,prev=2)]],"expect":["gap"]},
 {"name":"a listed bundle answered 404 while a later one is served","cursor":"","pages":[[it(A,1,cp=True),it(A,2,"missing"),it(A,3,prev=2)]],"expect":["gap"]},
 {"name":"a quarantined bundle is accounted for","cursor":"","pages":[[it(A,1,cp=True),it(A,2,"quarantined"),it(A,3,prev=2)]],"expect":[]},
 {"name":"prev with other bytes","cursor":"","pages":[[it(A,1,cp=True),it(A,2,prev=1,prev_sha="sha:forked")]],"expect":["gap"]},
 {"name":"two swapped bundles on one page","cursor":"","pages":[[it(A,1,cp=True),it(A,3,prev=2),it(A,2,prev=1)]],"expect":["reorder"]},
 {"name":"two swapped bundles across pages","cursor":"","pages":[[it(A,1,cp=True),it(A,3,prev=2)],[it(A,2,prev=1)]],"expect":["gap","reorder"]},
 {"name":"an old checkpoint after a newer one","cursor":"","pages":[[it(A,1,cp=True),it(A,3,cp=True)],[it(A,1,cp=True)]],"expect":["rollback"]},
 {"name":"the first bundle of a device is a delta","cursor":"","pages":[[it(A,5,prev=4)]],"expect":["missingCheckpoint"]},
 {"name":"checks began mid-listing: a first delta is not judged","cursor":"c_42","pages":[[it(A,5,prev=4)]],"expect":[]},
 {"name":"a claimed seq never listed","cursor":"","pages":[[it(A,1,cp=True),it(B,1,cp=True,peers={A:7,R:40,B:9})]],"expect":["withheld"]},
 {"name":"a claim met later in the pull","cursor":"","pages":[[it(A,1,cp=True),it(B,1,cp=True,peers={A:7})],[it(A,8,cp=True)]],"expect":[]},
]
out = {
 "description": "Relay-integrity links of docs/PROTOCOL.md section 6: a sealed two-bundle chain (prev.sha256 of the delta is the SHA-256 of the checkpoint's sealed blob; peers), and detector cases (listings in order, pages of one pull, the kinds a reader raises). In detector items prev.sha256 'sha:<device>/<seq>' stands for the listed sha256 of that item, which is that string too; outcome: open, quarantined, or missing (listed, answered 404).",
 "key_hex": key.hex(), "license_id": lid, "device_id": dev, "reader": R,
 "chain": chain, "detector": cases}
print(json.dumps(out, indent=1, ensure_ascii=False))
