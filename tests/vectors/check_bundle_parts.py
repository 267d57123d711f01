#!/usr/bin/env python3
"""Independent check of tests/vectors/bundle-v1-parts.json from docs/PROTOCOL.md alone
(§2 envelope, §3 blob SHA-256, §6 bundle, its relay-integrity links and checkpoints in parts)."""

import base64
import hashlib
import json
import pathlib
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def b64u_decode(text: str) -> bytes:
    if "=" in text:
        raise ValueError("padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def part_field(b: dict, seq: int):
    """The §6 reader rule: "part" when a bundle's part disagrees with where it stands, else None."""
    p = b.get("part")
    if p is None:
        return None
    if p["index"] == 0:
        ok = b["checkpoint"] is True and p["first"] == seq
    else:
        ok = b["checkpoint"] is False and p["first"] < seq and b.get("prev") is not None
    return None if ok else "part"


def open_sealed(key: bytes, case: dict) -> tuple[dict, str]:
    blob = b64u_decode(case["envelope_b64u"])
    sha = hashlib.sha256(blob).hexdigest()
    assert sha == case["blob_sha256"], "blob_sha256"
    assert blob[0] == 1 and blob[1:13] == bytes.fromhex(case["iv_hex"]), "envelope layout"
    plaintext = AESGCM(key).decrypt(blob[1:13], blob[13:], None)
    assert plaintext == case["plaintext"].encode("utf-8"), "plaintext"
    return json.loads(plaintext), sha


def record_key(r: dict) -> str:
    return r["scope"] + "\x1f" + r["id"] if "scope" in r else r["id"]


def main() -> int:
    v = json.loads(pathlib.Path(__file__).with_name("bundle-v1-parts.json").read_text("utf-8"))
    key = bytes.fromhex(v["key_hex"])
    sealed = [open_sealed(key, c) for c in v["parts"]] + [open_sealed(key, v["delta"])]
    for b, _ in sealed:
        assert b["format"] == "azmx.bundle.v1"
        assert b["licenseId"] == v["license_id"] and b["deviceId"] == v["device_id"]
        assert isinstance(b.get("peers"), dict), "a writer always writes peers"
        assert part_field(b, b["seq"]) is None, f"seq {b['seq']}: part"
        assert len({s["store"] for s in b["stores"]}) == len(b["stores"]), "one entry per store"

    parts, delta = sealed[:-1], sealed[-1]
    assert len(parts) >= 2, "a checkpoint in parts has more than one"
    first = parts[0][0]["seq"]
    order = []
    for i, (b, _) in enumerate(parts):
        assert b["seq"] == first + i, "parts take consecutive seqs"
        assert b["part"] == {"first": first, "index": i, "last": i == len(parts) - 1}
        if i == 0:
            assert b["checkpoint"] is True and "prev" not in b, "the first part restarts the chain"
        else:
            assert b["checkpoint"] is False
            assert b["prev"] == {"seq": parts[i - 1][0]["seq"], "sha256": parts[i - 1][1]}, "part link"
        order += [(s["store"], record_key(r)) for s in b["stores"] for r in s["records"]]
        assert b["stores"] and all(s["records"] for s in b["stores"]), "no empty part or store entry"
    assert order == sorted(order) and len(set(order)) == len(order), "(store, key) order across parts"
    stores = [s for s, _ in order]
    assert len(set(stores)) >= 2, "two stores"
    # The cuts fall inside stores: a store's records continue in the next part.
    cuts = [(p[0]["stores"][-1]["store"], q[0]["stores"][0]["store"]) for p, q in zip(parts, parts[1:])]
    assert all(a == b for a, b in cuts), "each cut falls inside a store"

    d, _ = delta
    assert d["checkpoint"] is False and "part" not in d
    assert d["seq"] == parts[-1][0]["seq"] + 1
    assert d["prev"] == {"seq": parts[-1][0]["seq"], "sha256": parts[-1][1]}, "delta after the last part"

    for case in v["refuse"]:
        b = json.loads(case["plaintext"])
        assert b["seq"] == case["seq"]
        # Everything else is in context, so `part` is the only reason to refuse.
        assert b["format"] == "azmx.bundle.v1"
        assert b["licenseId"] == v["license_id"] and b["deviceId"] == v["device_id"]
        assert case["field"] == "part"
        assert part_field(b, case["seq"]) == "part", case["name"]
    for case in v["accept"]:
        b = json.loads(case["plaintext"])
        assert "field" not in case and "part" not in b
        assert part_field(b, case["seq"]) is None, case["name"]
    assert len(v["refuse"]) >= 6 and v["accept"], "every rule and an accepted bundle"
    print(
        f"independent Python check of bundle-v1-parts.json: {len(parts)} parts and a delta, "
        f"{len(v['refuse'])} refused, {len(v['accept'])} accepted passed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
