#!/usr/bin/env bash
# The relay's deploy files in server/deploy/ (issue 15):
# - the systemd unit passes `systemd-analyze verify` (with ExecStart pointed
#   at the built binary) without a word, its exposure score from
#   `systemd-analyze security --offline=yes` is at most 2.0, and its
#   TimeoutStopSec is longer than the example config's drain deadline;
# - the example relay.toml, and the Dockerfile's environment, pass
#   `azmx-sync-relay serve --check-config` with the real binary;
# - the Dockerfile has what the README promises (two stages, non-root,
#   volume, port, health check, stop signal), Cargo.lock is current for its
#   `cargo build --locked`, and it is built and run (healthy,
#   stopped by SIGTERM with exit 0) ONLY where `docker info` succeeds;
#   elsewhere the script says it skipped that and why.
# Installs systemd (for systemd-analyze) when missing. Exits non-zero on any
# failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh

command -v systemd-analyze >/dev/null || need_apt systemd
workspace_build || die "cargo build failed"
BIN="$TARGET/debug/azmx-sync-relay"
D=server/deploy
TMP=$(mktemp -d /tmp/azmx-deploy.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# --- the example config, with the real binary ---
if out=$("$BIN" serve --config "$D/relay.toml" --check-config 2>&1) && [[ $out == "config OK:"* ]]; then
  ok "relay.toml: $out"
else
  ko "relay.toml does not pass --check-config: $out"
fi
# The Dockerfile's ENV, as the container sees it.
envs=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$D/Dockerfile" | sed -n 's/^ENV //p' | tr -s ' ' '\n' | grep =)
if out=$(env -i $envs "$BIN" serve --check-config 2>&1) && [[ $out == *"listen 0.0.0.0:8787"* ]]; then
  ok "Dockerfile ENV: $out"
else
  ko "the Dockerfile's ENV does not pass --check-config: $out"
fi
# A config the relay must refuse, so the checks above can fail.
printf 'drain-timeout-secs = 99999\n' >"$TMP/bad.toml"
if "$BIN" serve --config "$TMP/bad.toml" --data-dir "$TMP/x" --check-config >/dev/null 2>&1; then
  ko "--check-config accepted drain-timeout-secs = 99999"
else
  ok "--check-config refuses an out-of-bounds drain deadline"
fi

# --- the systemd unit ---
UNIT="$TMP/azmx-sync-relay.service"
sed -e "s#/usr/local/bin/azmx-sync-relay#$BIN#" -e "s#/etc/azmx-sync-relay/relay.toml#$ROOT/$D/relay.toml#" \
  "$D/azmx-sync-relay.service" >"$UNIT"
said=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$UNIT" 2>&1)
rc=$?
if [[ $rc -eq 0 && -z $said ]]; then ok "systemd-analyze verify: clean"; else ko "systemd-analyze verify (rc $rc): $said"; fi
score=$(SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=yes "$UNIT" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [[ -n $score ]] && awk -v s="$score" 'BEGIN{exit !(s <= 2.0)}'; then
  ok "systemd-analyze security: exposure $score (at most 2.0)"
else
  ko "systemd-analyze security: exposure '${score:-none}' (want at most 2.0)"
fi
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$D/azmx-sync-relay.service")
drain=$(sed -n 's/^drain-timeout-secs *= *\([0-9]*\).*/\1/p' "$D/relay.toml")
if [[ -n $stop && -n $drain && $stop -gt $drain ]]; then
  ok "TimeoutStopSec=$stop > drain-timeout-secs=$drain"
else
  ko "TimeoutStopSec (${stop:-unset}) must exceed drain-timeout-secs (${drain:-unset})"
fi
for key in DynamicUser=yes StateDirectory= ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
  NoNewPrivileges=yes CapabilityBoundingSet= RestrictAddressFamilies= SystemCallFilter=@system-service \
  MemoryDenyWriteExecute=yes LimitNOFILE= KillSignal=SIGTERM EnvironmentFile=; do
  grep -q "^$key" "$D/azmx-sync-relay.service" || ko "the unit lacks $key"
done

# --- the Dockerfile ---
missing=()
# Continuation lines joined: one instruction a line.
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$D/Dockerfile" >"$TMP/Dockerfile.joined"
for want in '^FROM .* AS build' '^FROM debian:bookworm-slim' '^USER 10001' '^VOLUME ' '^EXPOSE 8787' \
  '^HEALTHCHECK .*\/healthz' '^STOPSIGNAL SIGTERM' '^COPY --from=build'; do
  grep -Eq "$want" "$TMP/Dockerfile.joined" || missing+=("$want")
done
if ((${#missing[@]} == 0)); then ok "Dockerfile: two stages, non-root, volume, port, health check, stop signal"; else ko "Dockerfile lacks: ${missing[*]}"; fi
[[ -f .dockerignore ]] && grep -qx target .dockerignore || ko ".dockerignore must keep target/ out of the build context"
# The image builds with --locked: Cargo.lock must need no update.
if cargo tree -q --locked -p azmx-sync-relay --depth 0 >/dev/null 2>"$TMP/locked.log"; then
  ok "Cargo.lock is up to date for the image's cargo build --locked"
else
  ko "cargo build --locked would fail: $(tail -3 "$TMP/locked.log")"
fi

if ! command -v docker >/dev/null; then
  echo "  skip docker build: no docker client on this machine"
elif ! why=$(docker info 2>&1 >/dev/null); then
  echo "  skip docker build: docker info fails here ($(echo "$why" | grep -m1 -i 'cannot\|error' | cut -c1-160))"
else
  TAG="azmx-sync-relay:test-$$"
  if docker build -q -f "$D/Dockerfile" -t "$TAG" . >"$TMP/build.log" 2>&1; then
    ok "docker build"
    cid=$(docker run -d "$TAG")
    health=
    for _ in $(seq 1 60); do
      health=$(docker inspect -f '{{.State.Health.Status}}' "$cid" 2>/dev/null)
      [[ $health == healthy ]] && break
      sleep 1
    done
    [[ $health == healthy ]] && ok "container healthy (/healthz)" || ko "container not healthy: $health"
    user=$(docker exec "$cid" id -u 2>/dev/null)
    [[ $user == 10001 ]] && ok "container runs as uid 10001" || ko "container runs as uid '$user'"
    docker stop -t 45 "$cid" >/dev/null
    code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
    [[ $code == 0 ]] && ok "docker stop: SIGTERM, exit 0" || ko "docker stop: exit $code"
    docker logs "$cid" 2>&1 | grep -q '"drained"' && ok "the container drained on stop" || ko "no drain in the container's log"
    docker rm -f "$cid" >/dev/null
    docker rmi -f "$TAG" >/dev/null
  else
    ko "docker build failed: $(tail -20 "$TMP/build.log")"
  fi
fi

echo "deploy: $PASS passed, $FAIL failed ($(($(date +%s) - T0)) s)"
((FAIL == 0)) || die "failures: ${FAILED[*]}"
