#!/usr/bin/env python3
"""Scale-curve report: reads the scale bench's JSON (target/bench/scale.json,
written by `cargo bench -p azmx-sync-e2e --bench scale`), fits each measure's
growth on log-log axes, and writes

  --svg PATH   the curves as a hand-written SVG (no fonts or libraries needed);
  --md PATH    Markdown tables: the measures per size, and the fitted slopes.

    python3 scripts/bench/scale_report.py target/bench/scale.json \
        --svg docs/scale-curves.svg --md target/bench/scale.md

Standard library only: it runs from a fresh clone.
"""

from __future__ import annotations

import argparse
import json
import math
import sys


def get(d, path):
    """d[a][b]... for path 'a.b...', or None when any step is missing."""
    for part in path.split("."):
        if not isinstance(d, dict) or d.get(part) is None:
            return None
        d = d[part]
    return d


def ok(run, path):
    """The cycle at path when it succeeded (its 'ok' is true)."""
    c = get(run, path)
    return c if isinstance(c, dict) and c.get("ok") else None


def val(run, path, field, scale=1.0):
    c = ok(run, path)
    v = c.get(field) if c else None
    return None if v is None else v * scale


def peak_device(run):
    vals = [get(run, p) for p in ("writer.firstPush.peakRssKiB", "writer.load.peakRssKiB",
                                   "writer.cyclesPeakRssKiB", "reader.catchUp.peakRssKiB")]
    vals = [v for v in vals if v is not None]
    return max(vals) / 1024 if vals else None


# (key, label, unit, panel, function of a run)
MEASURES = [
    ("idle", "idle cycle", "ms", "time", lambda r: val(r, "writer.idle.median", "ms")),
    ("idle_changes", "idle cycle, changes_since", "ms", "time",
     lambda r: val(r, "writer.idleChanges.median", "ms")),
    ("edit", "one-edit cycle", "ms", "time", lambda r: val(r, "writer.edit.median", "ms")),
    ("edit_changes", "one-edit cycle, changes_since", "ms", "time",
     lambda r: val(r, "writer.editChanges.median", "ms")),
    ("first", "first push (checkpoint)", "ms", "time", lambda r: val(r, "writer.firstPush", "ms")),
    ("load", "load in deltas (all pushes)", "ms", "time",
     lambda r: val(r, "writer.load", "ms")),
    ("catchup", "new-device catch-up", "ms", "time", lambda r: val(r, "reader.catchUp", "ms")),
    ("dev_rss", "device peak RSS", "MiB", "memory", peak_device),
    ("store_rss", "host store alone (RSS)", "MiB", "memory",
     lambda r: (get(r, "writer.storeRssKiB") or 0) / 1024 or None),
    ("relay_rss", "relay peak RSS", "MiB", "memory",
     lambda r: (get(r, "relay.peakRssKiB") or 0) / 1024 or None),
    ("sealed", "checkpoint sealed", "MB", "bytes",
     lambda r: val(r, "writer.firstPush", "sealedBytes", 1e-6)),
    ("state", "device state dir", "MB", "bytes",
     lambda r: (get(r, "writer.stateDirBytes") or 0) / 1e6 or None),
    ("idle_bytes", "idle cycle HTTP bytes", "kB", "bytes",
     lambda r: ((val(r, "writer.idle.median", "upBytes") or 0)
                + (val(r, "writer.idle.median", "downBytes") or 0)) / 1e3 or None),
    ("edit_sealed", "one-edit sealed", "kB", "bytes",
     lambda r: val(r, "writer.edit.median", "sealedBytes", 1e-3)),
]


def fit(points):
    """Least-squares slope of log y on log n, or None with < 2 points."""
    pts = [(math.log(n), math.log(y)) for n, y in points if y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def tail(points):
    """Slope between the two largest sizes: the growth once fixed costs (a
    request round trip, process start) no longer dominate."""
    pts = sorted(p for p in points if p[1] and p[1] > 0)
    return fit(pts[-2:]) if len(pts) >= 2 else None


def complexity(slope):
    if slope is None:
        return "—"
    if slope < 0.2:
        return f"O(1) (slope {slope:.2f})"
    if 0.8 <= slope <= 1.2:
        return f"O(n) (slope {slope:.2f})"
    return f"~n^{slope:.2f}"


def series(doc):
    """{(measure key, body): [(n, y)]} over every run."""
    out = {}
    for run in doc.get("runs", []):
        if "skipped" in run:
            continue
        # Nothing reached the relay: only the refused attempt's own
        # figures (the device's memory) describe this size.
        stored = get(run, "writer.mode") != "none"
        for key, _, _, _, f in MEASURES:
            if not stored and key not in ("dev_rss", "store_rss"):
                continue
            y = f(run)
            if y is not None:
                out.setdefault((key, run["bodyBytes"]), []).append((run["records"], y))
    return out


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "ms" and v >= 10000:
        return f"{v / 1000:.1f} s"
    if v >= 100:
        return f"{v:,.0f} {unit}"
    return f"{v:.3g} {unit}"


def markdown(doc):
    s = series(doc)
    bodies = sorted({r["bodyBytes"] for r in doc.get("runs", [])})
    lines = []
    cols = ["idle", "idle_changes", "edit", "edit_changes", "first", "load", "catchup", "dev_rss", "store_rss",
            "relay_rss", "sealed", "state", "idle_bytes", "edit_sealed"]
    cols = [c for c in cols if any(k == c for k, _ in s)]
    label = {k: (l, u) for k, l, u, _, _ in MEASURES}
    for body in bodies:
        lines.append(f"**Bodies of ~{body} B**")
        lines.append("")
        lines.append("| records | push mode | " + " | ".join(label[c][0] for c in cols) + " |")
        lines.append("|---:|---|" + "---:|" * len(cols))
        for run in doc["runs"]:
            if run["bodyBytes"] != body:
                continue
            n = run["records"]
            if "skipped" in run:
                lines.append(f"| {n:,} | {run['skipped']} |" + " |" * len(cols))
                continue
            vals = {k: dict(pts).get(n) for (k, b), pts in s.items() if b == body}
            mode = get(run, "writer.mode") or "?"
            if mode == "deltas":
                mode = f"deltas of {get(run, 'writer.load.batch'):,} ({get(run, 'writer.load.pushes')} pushes)"
            lines.append(f"| {n:,} | {mode} | "
                         + " | ".join(fmt(vals.get(c), label[c][1]) for c in cols) + " |")
        lines.append("")
        for run in doc["runs"]:
            if run["bodyBytes"] == body:
                err = get(run, "writer.firstPush.error")
                if err:
                    lines.append(f"- {run['records']:,} records: first push (one checkpoint) "
                                 f"refused after {get(run, 'writer.firstPush.ms'):,.0f} ms: `{err}`")
                skip = get(run, "writer.skipped")
                if skip:
                    lines.append(f"- {run['records']:,} records: {skip}")
                lerr = get(run, "writer.load.error")
                if lerr:
                    lines.append(f"- {run['records']:,} records: loading in deltas stopped after "
                                 f"{get(run, 'writer.load.loadedRecords'):,} records: `{lerr}`")
                if get(run, "reader.catchUp.complete") is False:
                    lines.append(f"- {run['records']:,} records: catch-up incomplete "
                                 f"({get(run, 'reader.catchUp.recordsHeld')} held)")
        lines.append("")
    lines.append("Growth on log-log axes: the slope between the two largest sizes (which names "
                 "the complexity), then the least-squares slope over every size measured, which "
                 "fixed per-cycle costs pull below 1 (slope 1 = linear in the number of records):")
    lines.append("")
    lines.append("| measure | " + " | ".join(f"~{b} B bodies" for b in bodies) + " |")
    lines.append("|---|" + "---|" * len(bodies))
    for key, lab, _, _, _ in MEASURES:
        if not any((key, b) in s for b in bodies):
            continue
        cells = []
        for b in bodies:
            pts = s.get((key, b), [])
            if len(pts) < 2:
                cells.append("—")
                continue
            top = sorted(pts)[-2:]
            cells.append(f"{complexity(tail(pts))} from {top[0][0]:,} to {top[1][0]:,}; "
                         f"{fit(pts):.2f} over {min(p[0] for p in pts):,}–{max(p[0] for p in pts):,}")
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def svg(doc):
    s = series(doc)
    bodies = sorted({b for _, b in s})
    panels = [("time", "Cycle time (ms)"), ("memory", "Peak RSS (MiB)"), ("bytes", "Bytes")]
    pw, ph, ml, mt, mb = 420, 300, 60, 40, 40
    legend_h = 140
    width, height = pw * len(panels) + 20, ph + mt + mb + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="16" font-size="13">azmx-sync scale curves: {doc.get("date", "")}, '
           f'{doc.get("cpu", "")} ×{doc.get("nproc", "")}, load avg {doc.get("loadavgBefore", "")} → '
           f'{doc.get("loadavgAfter", "")} (solid: ~{bodies[0] if bodies else "?"} B bodies'
           + (f', dashed: ~{bodies[1]} B' if len(bodies) > 1 else "") + ')</text>']
    for pi, (panel, title) in enumerate(panels):
        x0 = 10 + pi * pw + ml
        w, h = pw - ml - 20, ph - 20
        keys = [m for m in MEASURES if m[3] == panel]
        pts = [p for (k, _), v in s.items() if any(k == m[0] for m in keys) for p in v]
        if not pts:
            continue
        xs = [math.log10(n) for n, _ in pts]
        ys = [math.log10(y) for _, y in pts if y > 0]
        xlo, xhi = math.floor(min(xs)), math.ceil(max(xs))
        ylo, yhi = math.floor(min(ys)), math.ceil(max(ys))
        xhi, yhi = max(xhi, xlo + 1), max(yhi, ylo + 1)
        X = lambda n: x0 + (math.log10(n) - xlo) / (xhi - xlo) * w
        Y = lambda y: mt + h - (math.log10(y) - ylo) / (yhi - ylo) * h
        out.append(f'<text x="{x0}" y="{mt - 8}" font-size="12">{title}, log-log</text>')
        out.append(f'<rect x="{x0}" y="{mt}" width="{w}" height="{h}" fill="none" stroke="#888"/>')
        for e in range(xlo, xhi + 1):
            x = x0 + (e - xlo) / (xhi - xlo) * w
            out.append(f'<line x1="{x:.1f}" y1="{mt}" x2="{x:.1f}" y2="{mt + h}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{mt + h + 14}" text-anchor="middle">{10 ** e:,}</text>')
        for e in range(ylo, yhi + 1):
            y = mt + h - (e - ylo) / (yhi - ylo) * h
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g}</text>')
        out.append(f'<text x="{x0 + w / 2}" y="{mt + h + 28}" text-anchor="middle">records</text>')
        keys = [m for m in keys if any((m[0], b) in s for b in bodies)]
        for mi, (key, lab, unit, _, _) in enumerate(keys):
            color = COLORS[mi % len(COLORS)]
            for bi, body in enumerate(bodies):
                p = sorted(s.get((key, body), []))
                p = [q for q in p if q[1] > 0]
                if not p:
                    continue
                dash = ' stroke-dasharray="5,3"' if bi else ""
                d = " ".join(f"{X(n):.1f},{Y(y):.1f}" for n, y in p)
                out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>')
                for n, y in p:
                    out.append(f'<circle cx="{X(n):.1f}" cy="{Y(y):.1f}" r="2.5" fill="{color}"/>')
            slopes = [tail(s.get((key, b), [])) for b in bodies]
            sl = ", ".join("—" if v is None else f"{v:.2f}" for v in slopes)
            out.append(f'<text x="{x0 - ml + 10}" y="{mt + h + 50 + mi * 15}" fill="{color}">'
                       f'■ {lab} ({unit}); top slope {sl}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json")
    ap.add_argument("--svg")
    ap.add_argument("--md")
    a = ap.parse_args()
    doc = json.load(open(a.json))
    md = markdown(doc)
    if a.md:
        open(a.md, "w").write(md)
    else:
        sys.stdout.write(md)
    if a.svg:
        open(a.svg, "w").write(svg(doc))


if __name__ == "__main__":
    main()
