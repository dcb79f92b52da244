#!/usr/bin/env bash
# make demo: a local zsa stack without containers. Starts redis-server on a private port in a
# temp dir, then the daemons. Today (backbone only) the daemons can check their configuration
# and Redis, and jobs can be queued; the gateway, worker and scheduler loops land with issues
# 3-5, and this script says so. Ctrl-C stops everything it started and removes the temp dir.
# ZSA_DEMO_BOUNDED=1: run once and exit (for tests and CI). ZSA_BIN_DIR: where the binaries are.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ZSA_BIN_DIR:-build/bin}
bounded=${ZSA_DEMO_BOUNDED:-0}
[ -t 0 ] || bounded=1

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

for b in zsa-gateway zsa-worker zsa-scheduler zsa-proto; do
  [ -x "$bin/$b" ] || { echo "demo: $bin/$b is missing; run 'make' first" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "demo: redis-server is missing; run scripts/install-deps.sh" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/zsa-demo-XXXXXX")
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  echo "demo: stopped redis-server and removed $dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 200); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  kill -0 "$redis_pid" 2>/dev/null || { echo "demo: redis-server failed:" >&2; cat "$dir/redis.log" >&2; exit 1; }
  sleep 0.05
done
export ZSA_REDIS_URL="redis://127.0.0.1:$port/0"
bold "demo: redis-server pid $redis_pid on 127.0.0.1:$port (data in $dir)"

bold "demo: checking each daemon against it"
"$bin/zsa-gateway" --check
"$bin/zsa-scheduler" --check
"$bin/zsa-worker" --check

job='{"image_id":"demo1","algorithm":"simulate","parameters":{"duration_seconds":5},"session_id":"demo"}'
bold "demo: validating a job with the schema table (zsa-proto check --wire job)"
printf '%s' "$job" | "$bin/zsa-proto" check --wire job
bad='{"image_id":"demo 2","algorithm":"simulate","parameters":{"sigma":1e999}}'
printf '%s' "$bad" | "$bin/zsa-proto" check --wire job || echo "(refused, as it should be)"
redis-cli -p "$port" LPUSH zsa:jobs "$job" >/dev/null
bold "demo: queued a simulate job on zsa:jobs:"
redis-cli -p "$port" LRANGE zsa:jobs 0 -1

cat <<MSG

What runs today: the backbone (issue 2) — configuration, logging, the Redis helpers, the GPU
probe, and the proto codecs for every event. Still missing before a job runs live here:
  - zsa-worker job loop (issue 3): would take the job above and stream its progress
  - zsa-gateway (issue 4): WebSocket /ws, REST /api, dashboard
  - zsa-scheduler loop (issue 5): system_status, recovery
Try: redis-cli -p $port LRANGE zsa:jobs 0 -1
MSG

if [ "$bounded" = 1 ]; then
  exit 0
fi
bold "demo: Redis stays up until Ctrl-C"
wait "$redis_pid"
