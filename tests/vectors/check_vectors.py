#!/usr/bin/env python3
"""Independent check of tests/vectors/wire-v1.json, receipt-v1.json and
wire-v2.json (the license authority) from docs/PROTOCOL.md alone.

Uses only hashlib (PBKDF2, SHA-256) and the `cryptography` package (AES-GCM,
Ed25519, HKDF): no code from this repository. Exits non-zero on any mismatch.
"""
import base64
import hashlib
import json
import pathlib
import sys
import unicodedata

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def authority_seed(envelope_key: bytes, lid: str) -> bytes:
    """PROTOCOL §11.1: HKDF-SHA256 over the PBKDF2 output, no salt."""
    info = ("azmx.sync.authority.v1:" + lid).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(envelope_key)


def raw_public(sk: Ed25519PrivateKey) -> bytes:
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# PROTOCOL §11.2 and the field rules of §5, written from the page.
ID_CHARS = set(range(0x21, 0x7F)) - {ord("|")}
# The canonical encodings of the eight Ed25519 points of small order.
SMALL_ORDER = {bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
)}


def valid_id(v: str) -> bool:
    b = v.encode()
    return 1 <= len(b) <= 128 and set(b) <= ID_CHARS


def valid_ts(v: str) -> bool:
    digits = v[1:] if v.startswith("-") else v
    if not digits.isascii() or not digits.isdigit() or (digits != "0" and digits.startswith("0")):
        return False
    if v == "-0":
        return False
    return -(2**63) <= int(v) < 2**63


def valid_key(v: str) -> bool:
    try:
        raw = b64u_decode(v)
        if len(raw) != 32 or raw in SMALL_ORDER:
            return False
        Ed25519PublicKey.from_public_bytes(raw)
        return True
    except ValueError:
        return False


def valid_name(v: str) -> bool:
    # Rust's char::is_control is Unicode category Cc.
    return 1 <= len(v) <= 64 and not any(c == "|" or unicodedata.category(c) == "Cc" for c in v)


def parse_statement(c: str):
    """The fields of an authority statement, or None when it is not one."""
    parts = c.split("|")
    verb, rest = parts[0], parts[1:]
    shape = {
        "authority-register": (valid_id, valid_key, valid_name, valid_ts),
        "authority-revoke": (valid_id, valid_id, valid_ts),
        "authority-keycheck": (valid_id, lambda v: len(v) == 64 and set(v) <= set("0123456789abcdef"), valid_ts),
        "authority-set": (valid_id, valid_key, valid_ts),
    }.get(verb)
    if shape is None or len(rest) != len(shape) or not all(ok(v) for ok, v in zip(shape, rest)):
        return None
    return rest


def check_v2(path: pathlib.Path) -> dict:
    v = json.loads(path.read_text())
    counts = {}
    for c in v["authority_derivation"]:
        env = derive(c["receipt"], c["lid"])
        assert env.hex() == c["envelope_key_hex"], c["lid"]
        seed = authority_seed(env, c["lid"])
        assert seed.hex() == c["authority_seed_hex"], c["lid"]
        pk = raw_public(Ed25519PrivateKey.from_private_bytes(seed))
        assert b64u_encode(pk) == c["authority_public_key_b64u"], c["lid"]
    counts["authority_derivation"] = len(v["authority_derivation"])
    for c in v["authority_hkdf"]:
        seed = authority_seed(bytes.fromhex(c["envelope_key_hex"]), c["lid"])
        assert seed.hex() == c["authority_seed_hex"], c["lid"]
        assert b64u_encode(raw_public(Ed25519PrivateKey.from_private_bytes(seed))) == c["authority_public_key_b64u"]
    counts["authority_hkdf"] = len(v["authority_hkdf"])
    verbs = set()
    for c in v["authority_signature"]:
        sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(c["authority_seed_hex"]))
        pk = raw_public(sk)
        assert b64u_encode(pk) == c["authority_public_key_b64u"]
        assert parse_statement(c["canonical"]) is not None, c["canonical"]
        verbs.add(c["canonical"].split("|")[0])
        sig = sk.sign(c["canonical"].encode())
        assert b64u_encode(sig) == c["signature_b64u"]
        Ed25519PublicKey.from_public_bytes(pk).verify(b64u_decode(c["signature_b64u"]), c["canonical"].encode())
    assert verbs == {"authority-register", "authority-revoke", "authority-keycheck", "authority-set"}, verbs
    counts["authority_signature"] = len(v["authority_signature"])
    for c in v["invalid_authority_statement"]:
        assert parse_statement(c["canonical"]) is None, c["canonical"]
    counts["invalid_authority_statement"] = len(v["invalid_authority_statement"])
    return counts


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
    check_receipt_vectors()
    counts = check_v2(path.with_name("wire-v2.json"))
    print("independent Python check of wire-v2.json: " + ", ".join(f"{k} {n} passed" for k, n in counts.items()))
    return 0


# --- receipt-v1.json: the AZR1 receipt format (PROTOCOL §1.1) ---------------

RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def receipt_checksum(data: str) -> str:
    digest = hashlib.sha256(("azmx.receipt.v1:" + data).encode()).digest()
    v = int.from_bytes(digest[:3], "big") >> 4  # the first 20 bits
    return "".join(RECEIPT_ALPHABET[(v >> s) & 31] for s in (15, 10, 5, 0))


def receipt_locate(data: str, given: str):
    """The one group (2-9) where one substituted or swapped character fixes the checksum."""
    groups = set()
    computed = receipt_checksum(data)
    diff = [i for i in range(4) if computed[i] != given[i]]
    if len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                          and computed[diff[0]] == given[diff[1]] and computed[diff[1]] == given[diff[0]]):
        groups.add(9)
    for p in range(len(data)):
        for c in RECEIPT_ALPHABET:
            if c != data[p] and receipt_checksum(data[:p] + c + data[p + 1:]) == given:
                groups.add(2 + p // 4)
        if p + 1 < len(data) and p // 4 == (p + 1) // 4 and data[p] != data[p + 1]:
            if receipt_checksum(data[:p] + data[p + 1] + data[p] + data[p + 2:]) == given:
                groups.add(2 + p // 4)
    return groups.pop() if len(groups) == 1 else None


def receipt_check(receipt: str):
    """("azr1"|"other", None) or (error code, group or None), in PROTOCOL §1.1's order."""
    t = receipt.strip(" \t\n\r\x0c")
    if not (len(t) >= 5 and t[:5].isascii() and t[:5].upper() == "AZR1-"):
        return "other", None
    groups = t.split("-")
    if len(groups) != 9:
        return "receipt_group_count", None
    if groups[0] != "AZR1":
        return "receipt_lowercase", 1
    for n, g in enumerate(groups[1:], start=2):
        if len(g) != 4:
            return "receipt_group_length", n
        for c in g:
            if c in "ILOUilou":
                return "receipt_ambiguous_letter", n
            if "a" <= c <= "z":
                return "receipt_lowercase", n
            if c not in RECEIPT_ALPHABET:
                return "receipt_invalid_character", n
    data, given = "".join(groups[1:8]), groups[8]
    if receipt_checksum(data) != given:
        return "receipt_checksum", receipt_locate(data, given)
    return "azr1", None


def check_receipt_vectors() -> None:
    v = json.loads(pathlib.Path(__file__).with_name("receipt-v1.json").read_text())
    f = v["format"]
    assert f["alphabet"] == RECEIPT_ALPHABET and f["prefix"] == "AZR1" and f["separator"] == "-"
    assert f["group_len"] == 4 and f["data_groups"] == 7 and f["checksum_domain"] == "azmx.receipt.v1:"
    assert f["random_bits"] == 5 * 4 * 7 and f["checksum_bits"] == 20
    for c in v["valid"]:
        assert receipt_checksum(c["data"]) == c["checksum"], c["data"]
        groups = [c["data"][i:i + 4] for i in range(0, 28, 4)]
        assert c["receipt"] == "-".join(["AZR1"] + groups + [c["checksum"]])
        assert receipt_check(c["receipt"]) == ("azr1", None), c["receipt"]
    for c in v["check"]:
        assert receipt_check(c["receipt"]) == (c["result"], c["group"]), (c, receipt_check(c["receipt"]))
    print(f"independent Python check of receipt-v1.json: valid {len(v['valid'])} passed, "
          f"check {len(v['check'])} passed")


if __name__ == "__main__":
    sys.exit(main())
