#!/usr/bin/env python3
"""Independent check of tests/vectors/wire-v1.json from docs/PROTOCOL.md alone.

Uses only hashlib (PBKDF2, SHA-256) and the `cryptography` package (AES-GCM,
Ed25519): no code from this repository. Exits non-zero on any mismatch.
"""
import base64
import hashlib
import json
import pathlib
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

ALPHABET = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64u_decode(text: str) -> bytes:
    raw = text.encode()
    if not set(raw) <= ALPHABET or len(raw) % 4 == 1:
        raise ValueError("invalid_base64")
    data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    if b64u_encode(data) != text:  # non-canonical trailing bits
        raise ValueError("invalid_base64")
    return data


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def derive(receipt: str, lid: str) -> bytes:
    password = receipt.strip(" \t\n\r\x0c").encode()
    return hashlib.pbkdf2_hmac("sha256", password, ("azmx.sync.envelope.v1:" + lid).encode(), 600_000, 32)


def open_envelope(key: bytes, text: str) -> bytes:
    blob = b64u_decode(text)
    if len(blob) < 29:
        raise ValueError("envelope_too_short")
    if blob[0] != 0x01:
        raise ValueError("unsupported_version")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], None)
    except InvalidTag:
        raise ValueError("decrypt_failed")


def main() -> int:
    path = pathlib.Path(__file__).with_name("wire-v1.json")
    v = json.loads(path.read_text())
    counts = {}
    for c in v["kdf"]:
        assert derive(c["receipt"], c["lid"]).hex() == c["key_hex"], c["lid"]
    counts["kdf"] = len(v["kdf"])
    for c in v["envelope"]:
        key, iv, pt = (bytes.fromhex(c[k]) for k in ("key_hex", "iv_hex", "plaintext_hex"))
        blob = b"\x01" + iv + AESGCM(key).encrypt(iv, pt, None)
        assert b64u_encode(blob) == c["envelope_b64u"]
        assert hashlib.sha256(blob).hexdigest() == c["blob_sha256"]
        assert open_envelope(key, c["envelope_b64u"]) == pt
    counts["envelope"] = len(v["envelope"])
    for c in v["signature"]:
        sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(c["ed25519_seed_hex"]))
        pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert b64u_encode(pk) == c["public_key_b64u"]
        sig = sk.sign(c["canonical"].encode())
        assert b64u_encode(sig) == c["signature_b64u"]
        Ed25519PublicKey.from_public_bytes(pk).verify(b64u_decode(c["signature_b64u"]), c["canonical"].encode())
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(sig, (c["canonical"] + "0").encode())
            raise AssertionError("altered canonical verified")
        except InvalidSignature:
            pass
    counts["signature"] = len(v["signature"])
    for c in v["invalid_envelope"]:
        try:
            open_envelope(bytes.fromhex(c["key_hex"]), c["envelope_b64u"])
            raise AssertionError("invalid envelope opened")
        except ValueError as e:
            assert str(e) == c["error"], (str(e), c["error"])
    counts["invalid_envelope"] = len(v["invalid_envelope"])
    print("independent Python check of wire-v1.json: " + ", ".join(f"{k} {n} passed" for k, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
