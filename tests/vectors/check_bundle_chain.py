#!/usr/bin/env python3
"""Independent check of tests/vectors/bundle-v1-chain.json from docs/PROTOCOL.md alone
(§2 envelope, §3 blob SHA-256, §6 bundle and its relay-integrity links)."""

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


def main() -> int:
    v = json.loads(pathlib.Path(__file__).with_name("bundle-v1-chain.json").read_text("utf-8"))
    key = bytes.fromhex(v["key_hex"])
    bundles, shas = [], []
    for case in v["chain"]:
        blob = b64u_decode(case["envelope_b64u"])
        sha = hashlib.sha256(blob).hexdigest()
        assert sha == case["blob_sha256"], "blob_sha256"
        assert blob[0] == 1 and blob[1:13] == bytes.fromhex(case["iv_hex"]), "envelope layout"
        plaintext = AESGCM(key).decrypt(blob[1:13], blob[13:], None)
        assert plaintext == case["plaintext"].encode("utf-8"), "plaintext"
        b = json.loads(plaintext)
        assert b["format"] == "azmx.bundle.v1"
        assert b["licenseId"] == v["license_id"] and b["deviceId"] == v["device_id"]
        assert isinstance(b.get("peers"), dict), "a writer always writes peers"
        assert all(isinstance(s, int) and 0 < s <= 2**63 - 1 for s in b["peers"].values())
        bundles.append(b)
        shas.append(sha)
    first, second = bundles
    assert first["checkpoint"] and "prev" not in first, "a checkpoint has no prev"
    assert not second["checkpoint"]
    assert second["prev"] == {"seq": first["seq"], "sha256": shas[0]}, "the chain link"
    print(f"independent Python check of bundle-v1-chain.json: chain {len(bundles)} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
