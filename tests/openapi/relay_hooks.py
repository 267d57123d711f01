"""schemathesis hooks that make generated requests the way a device makes them.

Loaded by scripts/test.d/65-openapi.sh through SCHEMATHESIS_HOOKS. At import
it checks its own signing against tests/vectors/wire-v1.json, then registers
two devices per docs/PROTOCOL.md §10 (POST /sync/init, signed with a real
Ed25519 key) on the license the script created. Before every generated
request it fills in what a device would: the license id and key, the admin
token, `X-Ts`, a body's `X-Sha256`, a next `X-Seq`, and `X-Signature` over
the canonical string (§5) of the request exactly as it is sent (headers,
query, path and JSON body as the generator left them). Some requests are
left skewed or unsigned on purpose, so the relay's refusals are exercised
too. After every answer it counts the request by status (written at exit to
$AZMX_OPENAPI_COUNTS) and remembers stored pushes, so later blob fetches can
name blobs that exist.

Environment: AZMX_RELAY_URL, AZMX_LICENSE_ID, AZMX_LICENSE_KEY,
AZMX_ADMIN_TOKEN, AZMX_OPENAPI_COUNTS, AZMX_OPENAPI_SEED (optional).
"""
import atexit
import base64
import collections
import hashlib
import json
import os
import pathlib
import random
import threading
import time
import urllib.parse
import urllib.request

import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from schemathesis.transport.serialization import serialize_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
URL = os.environ["AZMX_RELAY_URL"].rstrip("/")
LICENSE_ID = os.environ["AZMX_LICENSE_ID"]
LICENSE_KEY = os.environ["AZMX_LICENSE_KEY"]
ADMIN_TOKEN = os.environ["AZMX_ADMIN_TOKEN"]
COUNTS_PATH = os.environ["AZMX_OPENAPI_COUNTS"]
RNG = random.Random(int(os.environ.get("AZMX_OPENAPI_SEED", "15")))
LOCK = threading.Lock()


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key(sk: Ed25519PrivateKey) -> str:
    return b64u(sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def sign(sk: Ed25519PrivateKey, canonical: str) -> str:
    # Lone surrogates cannot be UTF-8: such a field is refused by the relay
    # before the signature matters, so any bytes will do.
    return b64u(sk.sign(canonical.encode("utf-8", "surrogatepass")))


def canonical(verb: str, *fields) -> str:
    """`verb|field|...` (§5): no escaping; the relay refuses a field with `|`."""
    return "|".join([verb, *(str(f) for f in fields)])


def self_check():
    """Our canonical strings and signatures are the published vectors'."""
    vectors = json.loads((ROOT / "tests/vectors/wire-v1.json").read_text())["signature"]
    for v in vectors:
        verb, *fields = v["canonical"].split("|")
        sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["ed25519_seed_hex"]))
        assert canonical(verb, *fields) == v["canonical"]
        assert public_key(sk) == v["public_key_b64u"], v["canonical"]
        assert sign(sk, v["canonical"]) == v["signature_b64u"], v["canonical"]
    return len(vectors)


class Device:
    def __init__(self, name: str):
        self.sk = Ed25519PrivateKey.generate()
        ts = int(time.time())
        key = public_key(self.sk)
        body = {
            "licenseId": LICENSE_ID,
            "licenseKey": LICENSE_KEY,
            "publicKey": key,
            "deviceName": name,
            "ts": ts,
            "signature": sign(self.sk, canonical("init", LICENSE_ID, key, name, ts)),
        }
        req = urllib.request.Request(
            URL + "/sync/init",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201, resp.status
            self.id = json.loads(resp.read())["deviceId"]
        self.last_seq = 0
        self.stored = []  # seqs acknowledged with 201


CHECKED = self_check()
# Two live devices that sign (one pulls what the other pushed), and one the
# generated revocations may target. Nothing generated can name the signers:
# a generated id matching a random `dev_` + 16 hex digits is never drawn.
SIGNERS = [Device("schemathesis A"), Device("schemathesis B")]
VICTIM = Device("schemathesis victim")
BY_ID = {d.id: d for d in SIGNERS}
COUNTS = collections.Counter()
PER_OPERATION = collections.defaultdict(collections.Counter)


def write_counts():
    with open(COUNTS_PATH, "w") as f:
        json.dump(
            {
                "requests": sum(COUNTS.values()),
                "byStatus": dict(sorted(COUNTS.items())),
                "byOperation": {
                    op: dict(sorted(c.items())) for op, c in sorted(PER_OPERATION.items())
                },
                "vectorsChecked": CHECKED,
            },
            f,
            indent=1,
        )


atexit.register(write_counts)


def body_bytes(case) -> bytes:
    """The body as the binary serializer sends it; the case keeps exactly these bytes."""
    data = serialize_binary(case.body)
    case.body = data
    return data


def chance(p: float) -> bool:
    with LOCK:
        return RNG.random() < p


def pick(items):
    with LOCK:
        return RNG.choice(items)


def sign_init(case, mode):
    body = case.body
    if not isinstance(body, dict):
        return
    sk = Ed25519PrivateKey.generate()
    if mode != "unsigned":
        body["licenseId"] = LICENSE_ID
        if chance(0.9):
            body["licenseKey"] = LICENSE_KEY
        body["publicKey"] = public_key(sk)
        if chance(0.7):
            for field in ("authoritySignature", "authorityKey", "authorityClaim"):
                body.pop(field, None)
    if mode == "valid":
        body["ts"] = int(time.time())
    fields = [body.get(k) for k in ("licenseId", "publicKey", "deviceName", "ts")]
    if mode != "unsigned" and all(isinstance(f, (str, int)) for f in fields):
        body["signature"] = sign(sk, canonical("init", *fields))


def signed_canonical(case, device, h, ts):
    """The canonical the relay rebuilds for this request, or None (nothing to sign)."""
    op = (case.method.upper(), case.operation.path)
    dev = device.id
    if op == ("POST", "/sync/push"):
        return canonical("push", dev, h.get("X-Seq", ""), h.get("X-Sha256", ""), ts)
    if op == ("GET", "/sync/pull"):
        q = case.query or {}
        limit = q.get("limit", 100)
        return canonical("pull", dev, q.get("since", ""), limit, ts)
    if op == ("GET", "/sync/blob/{owner}/{seq}"):
        # Path parameters are kept in their wire form (percent-encoded);
        # the relay signs what it decodes.
        p = case.path_parameters or {}
        owner = urllib.parse.unquote(str(p.get("owner", "")))
        return canonical("blob", dev, owner, p.get("seq", ""), ts)
    if op == ("POST", "/sync/revoke"):
        b = case.body if isinstance(case.body, dict) else {}
        return canonical("revoke", dev, b.get("targetDeviceId", ""), ts)
    if op == ("PUT", "/sync/keycheck"):
        return canonical("keycheck-put", dev, h.get("X-Sha256", ""), ts)
    if op == ("GET", "/sync/keycheck"):
        return canonical("keycheck-get", dev, ts)
    if op == ("POST", "/sync/prune"):
        b = case.body if isinstance(case.body, dict) else {}
        return canonical("prune", dev, b.get("checkpointSeq", ""), ts)
    if op == ("GET", "/sync/devices"):
        return canonical("devices", dev, ts)
    return None


def make_meaningful(case, device, h):
    """What a device would send: bodies that match their hash, next seqs, real blobs."""
    path = case.operation.path
    if path == "/sync/push" and chance(0.85):
        h["X-Sha256"] = hashlib.sha256(body_bytes(case)).hexdigest()
        if chance(0.6):
            h["X-Seq"] = str(device.last_seq + 1)
    elif path == "/sync/keycheck" and case.method.upper() == "PUT" and chance(0.85):
        h["X-Sha256"] = hashlib.sha256(body_bytes(case)).hexdigest()
    elif path == "/sync/blob/{owner}/{seq}" and chance(0.6):
        owner = pick(SIGNERS)
        if owner.stored:
            case.path_parameters = {"owner": owner.id, "seq": pick(owner.stored)}
    elif path == "/sync/revoke" and isinstance(case.body, dict):
        # The signers stay live whatever the generator links a revocation
        # to (it may take ids from a devices listing).
        target = case.body.get("targetDeviceId")
        if (isinstance(target, str) and target in BY_ID) or chance(0.3):
            case.body["targetDeviceId"] = VICTIM.id


@schemathesis.hook
def before_call(context, case, **kwargs):
    path = case.operation.path
    if case.headers is None:
        case.headers = {}
    h = case.headers
    roll = pick(range(100))
    mode = "valid" if roll < 85 else "skewed" if roll < 92 else "unsigned"
    if path == "/sync/init":
        sign_init(case, mode)
        return
    if path == "/sync/authority":
        if mode != "unsigned":
            h["X-License-Id"] = LICENSE_ID
            h["X-License-Key"] = LICENSE_KEY
        return
    if path.startswith("/admin/") or path == "/metrics":
        if mode != "unsigned":
            h["Authorization"] = "Bearer " + ADMIN_TOKEN
            if case.path_parameters and chance(0.7):
                case.path_parameters = {"lid": LICENSE_ID}
        return
    if mode == "unsigned":
        return
    device = pick(SIGNERS)
    make_meaningful(case, device, h)
    ts = int(time.time()) if mode == "valid" else h.get("X-Ts", "")
    text = signed_canonical(case, device, h, ts)
    if text is None:
        return
    h["X-Device-Id"] = device.id
    h["X-Ts"] = str(ts)
    h["X-Signature"] = sign(device.sk, text)


@schemathesis.hook
def after_call(context, case, response):
    op = f"{case.method.upper()} {case.operation.path}"
    status = str(response.status_code)
    if response.status_code >= 400:
        try:
            status += " " + response.json()["error"]
        except Exception:
            status += " (no error body)"
    with LOCK:
        COUNTS[str(response.status_code)] += 1
        PER_OPERATION[op][status] += 1
    if op != "POST /sync/push":
        return
    device = BY_ID.get((case.headers or {}).get("X-Device-Id"))
    if device is None:
        return
    with LOCK:
        if response.status_code == 201:
            seq = int(case.headers["X-Seq"])
            device.last_seq = max(device.last_seq, seq)
            device.stored.append(seq)
        elif response.status_code == 409:
            device.last_seq = max(device.last_seq, response.json().get("lastSeq", 0))

