#!/usr/bin/env python3
"""OpenSSL reference figures for scripts/bench.sh, through Python
`cryptography`: PBKDF2-HMAC-SHA256 with 600,000 iterations, and AES-256-GCM
encrypt/decrypt of 1 KiB and 1 MiB (a fresh os.urandom(12) nonce per encrypt,
no framing). Writes JSON (seconds per call, medians) to the path given.

    .venv/bin/python scripts/bench/openssl_ref.py OUT.json [--quick]
"""

import json
import os
import statistics
import sys
import time

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC


def per_call(fn, min_time, repeats):
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time / 4:
            break
        n *= 2
    n = max(1, int(n * min_time / max(dt, 1e-9)))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def main():
    quick = "--quick" in sys.argv
    min_time, repeats = (0.05, 3) if quick else (0.3, 7)

    def pbkdf2():
        PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=b"lic_0001",
                   iterations=600_000).derive(b"correct horse battery staple")

    out = {
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "pbkdf2_600k": per_call(pbkdf2, 0.3 if quick else 1.0, 3 if quick else 5),
    }
    aes = AESGCM(AESGCM.generate_key(bit_length=256))
    for label, size in (("1KiB", 1024), ("1MiB", 1 << 20)):
        plain = os.urandom(size)
        nonce = os.urandom(12)
        ct = aes.encrypt(nonce, plain, None)
        out[f"seal_{label}"] = per_call(lambda: aes.encrypt(os.urandom(12), plain, None),
                                        min_time, repeats)
        out[f"open_{label}"] = per_call(lambda: aes.decrypt(nonce, ct, None), min_time, repeats)
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
