#!/usr/bin/env python3
"""Checks the rules docs/ARCHITECTURE.md states, so they cannot rot silently.

1. Crate graph: each workspace crate depends (normal/build dependencies) only
   on the workspace crates its row allows; core depends on none of them.
2. No hand-written Rust source over 700 lines outside tests, benches and
   generated code.
3. No `use azmx_sync_core... as core` alias (it shadows the standard `core`).
4. The wire lives in core/src/protocol: no route literal (`"/sync/…"`,
   `"/admin…"`), no `json!` response body and no second `DeviceInfo` in the
   relay's or the client's sources outside it.

Exits 1 with one line per broken rule; prints a summary otherwise.
"""
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# crate -> workspace crates it may depend on (normal and build dependencies).
# Tests (dev-dependencies) may use anything.
ALLOWED = {
    "azmx-sync-core": set(),
    "azmx-sync-bridge": {"azmx-sync-core"},
    "azmx-sync-ffi": {"azmx-sync-core", "azmx-sync-bridge"},
    "azmx-sync-node": {"azmx-sync-core", "azmx-sync-bridge"},
    "azmx-sync-relay": {"azmx-sync-core"},
    "azmx-sync-cli": {"azmx-sync-core", "azmx-sync-relay"},
    "uniffi-bindgen": set(),
    "xtask": set(),
}
# Edges allowed only as optional dependencies (behind a cargo feature).
OPTIONAL_ONLY = {("azmx-sync-cli", "azmx-sync-relay")}
# Crates that exist only to test the others: they may depend on anything.
TEST_CRATES = {"azmx-sync-e2e", "azmx-sync-sim", "azmx-sync-test-support"}

MAX_LINES = 700
GENERATED = {
    "bindings/swift/Sources/AzmxSync/AzmxSync.swift",
}
# Directories whose files are tests, benches or generated code.
EXEMPT_PARTS = {"tests", "benches", "fuzz", "target", "node_modules", "examples"}

ROUTE = re.compile(r'"/(sync|admin)\b')
JSON_MACRO = re.compile(r"\bjson!\s*\(")
DEVICE_INFO = re.compile(r"\bstruct\s+DeviceInfo\b")
# The admin console's page paths: HTML for a browser, not the wire (no
# client builds them, no body shape goes with them). This one file may name
# "/admin…" paths; every other relay source takes its routes from the core.
CONSOLE_PATHS = "server/src/console/paths.rs"
CORE_ALIAS = re.compile(r"\buse\s+azmx_sync_core(::[\w:]+)?(::\{[^}]*)?\s+as\s+core\b|\bself\s+as\s+core\b")


def tracked_rust_files():
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "*.rs"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()
    return [p for p in out if (ROOT / p).is_file()]


def strip_test_modules(text):
    """The source before its first `#[cfg(test)]` (unit tests sit at the end)."""
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def check_graph(errors):
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout)
    members = {p["name"] for p in meta["packages"]}
    for pkg in meta["packages"]:
        name = pkg["name"]
        if name in TEST_CRATES:
            continue
        if name not in ALLOWED:
            errors.append(f"crate graph: {name} has no row in ALLOWED (docs/ARCHITECTURE.md)")
            continue
        for dep in pkg["dependencies"]:
            if dep["name"] in members and dep.get("kind") != "dev":
                if dep["name"] not in ALLOWED[name]:
                    errors.append(f"crate graph: {name} depends on {dep['name']}, which its row does not allow")
                elif (name, dep["name"]) in OPTIONAL_ONLY and not dep.get("optional"):
                    errors.append(f"crate graph: {name} must depend on {dep['name']} only behind a cargo feature")
    return len(meta["packages"])


def exempt(path):
    parts = pathlib.PurePosixPath(path).parts
    return path in GENERATED or any(p in EXEMPT_PARTS for p in parts)


def main():
    errors = []
    crates = check_graph(errors)
    files = tracked_rust_files()
    for path in files:
        text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
        if CORE_ALIAS.search(text):
            errors.append(f"{path}: `as core` alias (name azmx_sync_core or import what is used)")
        # Files that say they are generated (xtask gen-bindings) are exempt too.
        if exempt(path) or text.startswith("// @generated"):
            continue
        lines = text.count("\n")
        if lines > MAX_LINES:
            errors.append(f"{path}: {lines} lines (> {MAX_LINES}); split it into modules with one job each")
        if path.startswith("core/src/protocol/"):
            continue
        if path.startswith(("server/src/", "core/src/engine/")):
            body = strip_test_modules(text)
            for n, line in enumerate(body.splitlines(), 1):
                code = line.split("//", 1)[0]
                if ROUTE.search(code) and path != CONSOLE_PATHS:
                    errors.append(f"{path}:{n}: route literal outside core/src/protocol")
                if path.startswith("server/src/") and JSON_MACRO.search(code):
                    errors.append(f"{path}:{n}: json! body outside core/src/protocol")
        if path.startswith(("server/src/", "core/src/")):
            for n, line in enumerate(strip_test_modules(text).splitlines(), 1):
                if DEVICE_INFO.search(line.split("//", 1)[0]):
                    errors.append(f"{path}:{n}: a second DeviceInfo (the wire's is in core/src/protocol)")
    if errors:
        print("architecture rules broken:")
        for e in errors:
            print("  " + e)
        return 1
    print(f"architecture rules hold: {crates} crates, {len(files)} Rust files checked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
