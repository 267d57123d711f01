# Helpers shared by the scripts/test.d/*.sh; each sources it after `cd` to
# the repository root:  . scripts/test.d/lib.sh
# Sets ROOT, TARGET (the cargo target dir), T0 (start time, s) and the
# PASS / FAIL / FAILED tallies that ok and ko keep.

ROOT=$PWD
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
T0=$(date +%s)
PASS=0
FAIL=0
FAILED=()

ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
ko() { FAIL=$((FAIL + 1)); FAILED+=("$*"); echo "  FAIL $*"; }
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# need_apt PKG...: installs the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "apt install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq || true) && apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || die "apt-get install ${missing[*]} failed"
  fi
}
