#!/usr/bin/env bash
# The binding surfaces against the one table, bindings/surface.toml: the C
# functions of include/azmx_sync.h, the uniffi surface (the Python module
# the pinned uniffi-bindgen generates from the built library: functions and
# object methods, the same for Kotlin and Swift), and the Node surface of
# bindings/node/index.d.ts. Fails when a binding gains or loses an export
# the table does not list, when a row names something no binding has, when
# a row with a "-" gives no reason, and when the table's C column differs
# from tests/c/api-surface.txt (the reviewed list 20-c.sh checks). First,
# the engine glue generated from bindings/exports.toml must be up to date.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "cargo run -p xtask -- gen-bindings --check"
cargo run -q -p xtask -- gen-bindings --check \
  || die "the generated engine glue is stale: run cargo run -p xtask -- gen-bindings"

OUT="$TARGET/azmx-surface"
rm -rf "$OUT/python"
mkdir -p "$OUT/python"
echo "generating the uniffi Python module (bindings/uniffi-bindgen/generate.sh)"
bindings/uniffi-bindgen/generate.sh python "$OUT/python" >/dev/null

set +e
python3 - "$OUT/python/azmx_sync.py" <<'PY'
import ast, re, sys, tomllib

table = tomllib.load(open("bindings/surface.toml", "rb"))["export"]
problems = []

# ---- the real surfaces ----------------------------------------------------
header = open("include/azmx_sync.h").read()
header = "\n".join(l for l in header.splitlines() if not l.lstrip().startswith("//"))
real_c = set(re.findall(r"\b(azmx_[a-z0-9_]+)\(", header))

reviewed_c = {
    l.split()[0]
    for l in open("tests/c/api-surface.txt")
    if l.strip() and not l.lstrip().startswith("#")
}

def uniffi_surface(path):
    """Exported functions and object methods of the generated module."""
    tree = ast.parse(open(path).read())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    out = set()
    for n in tree.body:
        if isinstance(n, ast.FunctionDef) and not n.name.startswith("_"):
            out.add(n.name)
    for name, cls in classes.items():
        methods = {m.name: m for m in cls.body if isinstance(m, ast.FunctionDef)}
        # uniffi objects (not records, enums or errors) hold a Rust handle.
        if not {"_uniffi_clone_handle", "_uniffi_clone_pointer"} & methods.keys():
            continue
        # A foreign trait's Rust-side proxy: host code implements these.
        if name.endswith("Impl") and name[:-4] in classes:
            continue
        for m in methods.values():
            if m.name == "__init__":
                # Without a primary constructor it only takes *args/**kwargs (and raises).
                if len(m.args.args) > 1:
                    out.add(f"{name}.new")
            elif not m.name.startswith("_"):
                out.add(f"{name}.{m.name}")
    return out

real_uniffi = uniffi_surface(sys.argv[1])

def node_surface(path):
    out, cls = set(), None
    for line in open(path):
        if m := re.match(r"export declare function (\w+)\(", line):
            out.add(m.group(1))
        elif m := re.match(r"export declare class (\w+)", line):
            cls = m.group(1)
        elif line.startswith("}"):
            cls = None
        elif cls and (m := re.match(r"  (?:static |get )?(\w+)\(", line)):
            out.add(f"{cls}.{m.group(1)}")
    return out

real_node = node_surface("bindings/node/index.d.ts")

# ---- the table ------------------------------------------------------------
ids = set()
columns = {"c": set(), "uniffi": set(), "node": set()}
for row in table:
    rid = row.get("id", "?")
    if rid in ids:
        problems.append(f"row `{rid}` appears twice")
    ids.add(rid)
    for col in columns:
        name = row.get(col)
        if name is None:
            problems.append(f"row `{rid}` has no `{col}` (a name or \"-\")")
        elif name != "-":
            if name in columns[col]:
                problems.append(f"{col} `{name}` is listed twice")
            columns[col].add(name)
    if "-" in (row.get("c"), row.get("uniffi"), row.get("node")) and not row.get("why"):
        problems.append(f"row `{rid}` leaves a binding out without a `why`")

for col, real in (("c", real_c), ("uniffi", real_uniffi), ("node", real_node)):
    for name in sorted(real - columns[col]):
        problems.append(f"{col} exports `{name}`, which bindings/surface.toml does not list")
    for name in sorted(columns[col] - real):
        problems.append(f"bindings/surface.toml lists {col} `{name}`, which that binding does not export")
if columns["c"] != reviewed_c:
    problems.append(
        "the C column differs from tests/c/api-surface.txt: "
        f"only in the table {sorted(columns['c'] - reviewed_c)}, "
        f"only in the reviewed list {sorted(reviewed_c - columns['c'])}"
    )

for p in problems:
    print("  FAIL", p)
counts = ", ".join(f"{len(columns[c])} {c}" for c in columns)
print(f"  {'ok  ' if not problems else 'FAIL'} surface table: {len(table)} rows ({counts})")
sys.exit(1 if problems else 0)
PY
RC=$?
set -e
echo "35-surface: $([ $RC = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - T0 )) s"
exit $RC
