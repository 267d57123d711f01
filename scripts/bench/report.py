#!/usr/bin/env python3
"""Puts one scripts/bench.sh run side by side: reads what the steps wrote in
target/bench/ (machine.json, openssl.json, python-fast.json, kotlin-fast.json,
relay-load.json, scale.json + scale.md) and the criterion results newer than
target/bench/criterion-since; prints the tables, writes them to --md, and with
--docs rewrites the region between <!-- bench:begin --> and <!-- bench:end -->
of that Markdown file (everything outside the markers is left as it is).

    python3 scripts/bench/report.py target/bench --criterion target/criterion \
        --md target/bench/summary.md [--docs docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def criterion(root, since):
    """{full_id: median seconds} of the results written after `since`."""
    out = {}
    for d, _, files in os.walk(root):
        if not (d.endswith(os.sep + "new") and "benchmark.json" in files and "estimates.json" in files):
            continue
        est = os.path.join(d, "estimates.json")
        if os.path.getmtime(est) < since:
            continue
        b, e = load(os.path.join(d, "benchmark.json")), load(est)
        if b and e:
            out[b["full_id"]] = e["median"]["point_estimate"] / 1e9
    return out


def t(sec):
    """Seconds as a readable time."""
    if sec is None:
        return "—"
    if sec >= 1:
        return f"{sec:.2f} s"
    if sec >= 1e-3:
        return f"{sec * 1e3:.3g} ms" if sec < 0.1 else f"{sec * 1e3:.0f} ms"
    return f"{sec * 1e6:.3g} µs"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "—"


def crypto_table(crit, ossl):
    rows = [("PBKDF2-HMAC-SHA256, 600,000 iterations", "kdf/pbkdf2_600k_derive", "pbkdf2_600k")]
    for op in ("seal", "open"):
        for size, label in ((1024, "1KiB"), (1048576, "1MiB")):
            rows.append((f"AES-256-GCM {op} {label.replace('KiB', ' KiB').replace('MiB', ' MiB')}",
                         f"envelope/{op}/{size}", f"{op}_{label}"))
    lines = ["| operation | azmx core (Rust) | OpenSSL (`cryptography`) | azmx ÷ OpenSSL |",
             "|---|---:|---:|---:|"]
    for label, cid, oid in rows:
        a, b = crit.get(cid), (ossl or {}).get(oid)
        lines.append(f"| {label} | {t(a)} | {t(b)} | {ratio(a, b)} |")
    if ossl:
        lines.append("")
        lines.append(f"OpenSSL: {ossl.get('openssl')} via cryptography {ossl.get('cryptography')}. "
                     "The core's seal includes its nonce and framing; OpenSSL's encrypt is timed "
                     "with a fresh nonce per call and no framing.")
    return lines


def bindings_table(py, kt):
    lines = ["| binding | payload | op | azmx bulk path | platform AES-GCM | ratio | also |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in (py or {}).get("rows", []):
        lines.append(f"| Python | {r['size']} | {r['op']} | {t(r['fast'])} | {t(r['cryptography'])} "
                     f"(cryptography) | {ratio(r['fast'], r['cryptography'])} | uniffi `bytes` path {t(r['uniffi'])} |")
    for size in ("1KiB", "1MiB"):
        k = (kt or {}).get(size)
        if not k:
            continue
        label = size.replace("KiB", " KiB").replace("MiB", " MiB")
        lines.append(f"| Kotlin/JVM | {label} | seal | {t(k['fastSeal'])} | {t(k['jceSeal'])} (javax.crypto) | "
                     f"{ratio(k['fastSeal'], k['jceSeal'])} | direct `ByteBuffer` seal {t(k['directSeal'])} "
                     f"({ratio(k['directSeal'], k['jceSeal'])}) |")
        lines.append(f"| Kotlin/JVM | {label} | open | {t(k['fastOpen'])} | {t(k['jceOpen'])} (javax.crypto) | "
                     f"{ratio(k['fastOpen'], k['jceOpen'])} | |")
    if py or kt:
        lines.append("")
        lines.append("Python " + (py or {}).get("python", "?") + ", cryptography "
                     + (py or {}).get("cryptography", "?") + "; " + (kt or {}).get("jvm", "no JVM run")
                     + ". Bulk paths: `seal_fast`/`open_fast` (ctypes) and `FastEnvelope` (JNA direct mapping).")
    return lines


def merge_table(crit):
    lines = ["| store (contract) | `merge_in_place` wall | CPU | target |", "|---|---:|---:|---|"]
    for store, contract in (("snippets", "LwwByTime"), ("memory", "LwwByVersion"), ("todos", "LwwPerGroup")):
        w = crit.get(f"merge_100k_into_100k/merge_in_place/{store}/{contract}")
        c = crit.get(f"merge_100k_into_100k_cpu/merge_in_place/{store}/{contract}")
        if w is None and c is None:
            continue
        met = "met" if (w or c) < 0.1 else "MISSED"
        lines.append(f"| {store} ({contract}) | {t(w)} | {t(c)} | < 100 ms: {met} |")
    return lines


def relay_table(load_doc):
    lines = ["| devices | pushes/s | p50 ms | p99 ms | relay CPU µs/push | load generator CPU µs/push "
             "| both | load avg |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    num = lambda v, f: "—" if v is None else format(v, f)
    for r in (load_doc or {}).get("rows", []):
        lines.append(f"| {r['devices']} | {num(r['pushesPerSec'], ',.0f')} | {num(r['p50Ms'], '.2f')} | "
                     f"{num(r['p99Ms'], '.2f')} | {num(r['relayCpuUsPerPush'], '.0f')} | "
                     f"{num(r['loadGenCpuUsPerPush'], '.0f')} | {num(r['cpuUsPerPush'], '.0f')} | {r['loadavg']} |")
    if load_doc:
        proc = "its own process" if load_doc.get("relayProcess") else "the load generator's process"
        lines.append("")
        lines.append(f"4 KiB signed pushes, durability `{load_doc.get('durability')}`, relay in {proc}, "
                     f"{load_doc.get('secs')} s per level; client and relay share the machine's cores.")
    return lines


def scale_headline(scale):
    lines = ["| records | body | idle cycle | one-edit cycle | first push | catch-up | device RSS | relay RSS |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in (scale or {}).get("runs", []):
        if "skipped" in r:
            lines.append(f"| {r['records']:,} | {r['bodyBytes']} B | {r['skipped']} | | | | | |")
            continue
        w, rd = r.get("writer") or {}, r.get("reader") or {}
        ms = lambda c: t(c["ms"] / 1e3) if isinstance(c, dict) and c.get("ok") else "—"
        fp = w.get("firstPush") or {}
        first = ms(fp) if fp.get("ok") else f"refused ({w.get('mode')})"
        peaks = [v for v in (fp.get("peakRssKiB"), (w.get("load") or {}).get("peakRssKiB"),
                             w.get("cyclesPeakRssKiB"), (rd.get("catchUp") or {}).get("peakRssKiB")) if v]
        dev = f"{max(peaks) / 1024:,.0f} MiB" if peaks else "—"
        rel = (r.get("relay") or {}).get("peakRssKiB")
        lines.append(f"| {r['records']:,} | {r['bodyBytes']} B | {ms((w.get('idle') or {}).get('median'))} | "
                     f"{ms((w.get('edit') or {}).get('median'))} | {first} | {ms(rd.get('catchUp'))} | {dev} | "
                     f"{f'{rel / 1024:,.0f} MiB' if rel else '—'} |")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--criterion", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--docs")
    a = ap.parse_args()
    p = lambda name: os.path.join(a.out, name)
    since = os.path.getmtime(p("criterion-since")) if os.path.exists(p("criterion-since")) else 0
    crit = criterion(a.criterion, since)
    m = load(p("machine.json")) or {}
    scale = load(p("scale.json"))
    scale_md = open(p("scale.md")).read() if os.path.exists(p("scale.md")) and scale else ""
    md = [f"Generated by `scripts/bench.sh`{' (BENCH_QUICK=1)' if m.get('quick') else ''} on "
          f"{m.get('date', '?')} at commit {m.get('commit', '?')}: {m.get('cpu', '?')}, "
          f"{m.get('nproc', '?')} cores ({', '.join(m.get('cpuFlags', []))}); load average "
          f"{m.get('loadavgBefore', '?')} before, {m.get('loadavgAfter', '?')} after "
          "(1/5/15 min; other work on the machine counts in every figure). Medians.", "",
          "### Crypto: core vs OpenSSL", "", *crypto_table(crit, load(p("openssl.json"))), "",
          "### Bindings: bulk paths vs the platform's AES-GCM", "",
          *bindings_table(load(p("python-fast.json")), load(p("kotlin-fast.json"))), "",
          "### Merge 100k into 100k", "", *merge_table(crit), "",
          "### Relay: pushes/s, p99, CPU per push", "", *relay_table(load(p("relay-load.json"))), "",
          "### Scale curves (headline)", "", *scale_headline(scale), ""]
    if scale_md:
        md += ["Every measure (`tests/e2e/benches/scale`; plot: `docs/scale-curves.svg`):", "", scale_md]
    text = "\n".join(md).rstrip() + "\n"
    open(a.md, "w").write(text)
    sys.stdout.write(text)
    if a.docs:
        doc = open(a.docs).read()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{a.docs}: no {BEGIN} ... {END} region to rewrite")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        open(a.docs, "w").write(head + BEGIN + "\n" + text + END + tail)
        print(f"rewrote the generated region of {a.docs}")


if __name__ == "__main__":
    main()
