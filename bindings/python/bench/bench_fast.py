"""One benchmark run that times azmx_sync's seal/open against Python
`cryptography`'s AESGCM, for 1 KiB and 1 MiB payloads.

    .venv/bin/python bindings/python/bench/bench_fast.py [--quick] [--check] [--json PATH]

Rows: azmx fast path (seal_fast/open_fast, ctypes), azmx uniffi path
(key.seal/key.open, for reference) and cryptography AESGCM (encrypt with a
fresh os.urandom(12) nonce / decrypt). The median of several repeats of a
timed loop is reported per operation. --check exits 1 when the fast path is
slower than 2x cryptography at 1 MiB or 5x at 1 KiB (the issue's targets).
--json PATH also writes the timings (seconds per call) for scripts/bench.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import azmx_sync
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def per_call(fn, arg, min_time: float, repeats: int) -> float:
    """Median seconds per call over `repeats` timed loops of >= min_time each."""
    n = 1
    while True:  # calibrate
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        dt = time.perf_counter() - t0
        if dt >= min_time / 4:
            break
        n *= 2
    n = max(1, int(n * (min_time / max(dt, 1e-9))))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter loops (CI smoke run)")
    ap.add_argument("--check", action="store_true", help="fail when the targets are missed")
    ap.add_argument("--json", help="also write the timings here (seconds per call)")
    args = ap.parse_args()
    min_time, repeats = (0.05, 3) if args.quick else (0.3, 7)

    key = azmx_sync.EnvelopeKey.derive("bench receipt", "bench-license")
    aes = AESGCM(AESGCM.generate_key(bit_length=256))

    def c_seal(p):
        nonce = os.urandom(12)
        return aes.encrypt(nonce, p, None)

    rows = []
    ok = True
    for label, size, target in (("1 KiB", 1024, 5.0), ("1 MiB", 1 << 20, 2.0)):
        plain = os.urandom(size)
        blob = key.seal_fast(plain)
        nonce = os.urandom(12)
        cblob = aes.encrypt(nonce, plain, None)
        assert key.open_fast(blob) == plain and aes.decrypt(nonce, cblob, None) == plain
        t = {
            "fast seal": per_call(key.seal_fast, plain, min_time, repeats),
            "fast open": per_call(key.open_fast, blob, min_time, repeats),
            "crypto seal": per_call(c_seal, plain, min_time, repeats),
            "crypto open": per_call(lambda b: aes.decrypt(nonce, b, None), cblob, min_time, repeats),
        }
        slow_repeats = 1 if size > 4096 and args.quick else repeats
        t["uniffi seal"] = per_call(key.seal, plain, min_time, slow_repeats)
        t["uniffi open"] = per_call(key.open, blob, min_time, slow_repeats)
        for op in ("seal", "open"):
            ratio = t[f"fast {op}"] / t[f"crypto {op}"]
            met = ratio <= target
            ok &= met
            rows.append(
                (label, op, t[f"fast {op}"], t[f"crypto {op}"], ratio, target, met, t[f"uniffi {op}"])
            )

    print(f"python {sys.version.split()[0]}, cryptography {__import__('cryptography').__version__}")
    hdr = f"{'size':6} {'op':5} {'azmx fast':>12} {'cryptography':>13} {'ratio':>7} {'target':>7}  {'uniffi Vec<u8>':>15}"
    print(hdr)
    for label, op, fast, crypto, ratio, target, met, slow in rows:
        def fmt(s):
            return f"{s * 1e6:9.1f} us" if s < 1e-2 else f"{s * 1e3:9.2f} ms"
        print(
            f"{label:6} {op:5} {fmt(fast):>12} {fmt(crypto):>13} {ratio:6.2f}x {'<=' + str(target) + 'x':>7}"
            f"{'' if met else ' MISSED'}  {fmt(slow):>15}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "python": sys.version.split()[0],
                "cryptography": __import__("cryptography").__version__,
                "rows": [
                    {"size": label, "op": op, "fast": fast, "cryptography": crypto,
                     "ratio": ratio, "target": target, "uniffi": slow}
                    for label, op, fast, crypto, ratio, target, met, slow in rows
                ],
            }, f, indent=1)
    if args.check and not ok:
        print("fast path missed a target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
