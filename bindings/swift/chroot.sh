#!/usr/bin/env bash
# Swift toolchain for Linux hosts without Swift (Debian bookworm): a Debian
# trixie chroot with `swiftlang`, cached OUTSIDE the repository and reused.
#
#   bindings/swift/chroot.sh ensure          # build the chroot if missing (~2-3 min, ~3.3 GB)
#   bindings/swift/chroot.sh run CMD...      # run CMD in the chroot, repo bind-mounted at its own path
#
# AZMX_SWIFT_ROOT overrides the location (default /var/cache/azmx-swift-root).
# AZMX_SWIFT_MOUNTS: extra host directories (colon-separated, e.g. a
# CARGO_TARGET_DIR outside the repo) bind-mounted at the same paths.
# Needs root (debootstrap, mount). /proc is mounted for the run and unmounted
# after; the repository is bind-mounted at the same absolute path every time
# (the clang module cache rejects module maps that moved).
set -euo pipefail
SWIFT_ROOT=${AZMX_SWIFT_ROOT:-/var/cache/azmx-swift-root}
REPO=$(cd "$(dirname "$0")/../.." && pwd)

ensure() {
  if [ -x "$SWIFT_ROOT/usr/bin/swiftc" ] && [ -e "$SWIFT_ROOT/.azmx-ready" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null || {
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq || true)
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  local tmp="$SWIFT_ROOT.partial"
  if [ ! -e "$tmp/.azmx-debootstrapped" ]; then
    rm -rf "$tmp"
    mkdir -p "$(dirname "$SWIFT_ROOT")"
    echo "swift chroot: debootstrap trixie into $tmp (~70 s)"
    debootstrap --variant=minbase trixie "$tmp" http://deb.debian.org/debian >"$tmp.log" 2>&1 \
      || { tail -20 "$tmp.log"; echo "debootstrap failed"; return 1; }
    touch "$tmp/.azmx-debootstrapped"
  fi
  echo "swift chroot: apt-get install swiftlang (~70 s)"
  cp /etc/resolv.conf "$tmp/etc/resolv.conf" 2>/dev/null || true
  mountpoint -q "$tmp/proc" || mount -t proc proc "$tmp/proc"
  local rc=0
  chroot "$tmp" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends swiftlang libc6-dev >/dev/null' \
    || rc=$?
  umount "$tmp/proc" || true
  [ "$rc" = 0 ] || { echo "swiftlang install failed"; return "$rc"; }
  touch "$tmp/.azmx-ready"
  rm -rf "$SWIFT_ROOT"
  mv "$tmp" "$SWIFT_ROOT"
  rm -f "$tmp.log"
}

run() {
  ensure
  local dirs=("$REPO") d
  IFS=: read -r -a extra <<<"${AZMX_SWIFT_MOUNTS:-}"
  for d in "${extra[@]}"; do [ -n "$d" ] && dirs+=("$(cd "$d" && pwd)"); done
  local mounted=()
  cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" || true; done
    mounted=()
  }
  trap cleanup EXIT
  if ! mountpoint -q "$SWIFT_ROOT/proc"; then
    mount -t proc proc "$SWIFT_ROOT/proc"; mounted+=("$SWIFT_ROOT/proc")
  fi
  for d in "${dirs[@]}"; do
    mkdir -p "$SWIFT_ROOT$d"
    if ! mountpoint -q "$SWIFT_ROOT$d"; then
      mount --bind "$d" "$SWIFT_ROOT$d"; mounted+=("$SWIFT_ROOT$d")
    fi
  done
  local rc=0
  chroot "$SWIFT_ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@" || rc=$?
  cleanup
  trap - EXIT
  return "$rc"
}

case "${1:-}" in
  ensure) ensure ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 ensure | run CMD..." >&2; exit 2 ;;
esac
