#!/usr/bin/env bash
# make demo: a local zsa stack without containers. Starts redis-server on a private port in a
# temp dir, a gateway and two workers, checks the scheduler (its loop lands with issue 5),
# submits a simulate job over the gateway's REST API and shows its progress live. Ctrl-C stops
# everything it started and removes the temp dir.
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
worker_pids=()
gateway_pid=""
scheduler_pid=""
cleanup() {
  for p in "${worker_pids[@]}" $gateway_pid $scheduler_pid; do kill "$p" 2>/dev/null || true; done
  for p in "${worker_pids[@]}" $gateway_pid $scheduler_pid; do wait "$p" 2>/dev/null || true; done
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  echo "demo: stopped the gateway, the scheduler, the workers and redis-server, removed $dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP

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

bold "demo: checking the configuration and Redis (--check)"
"$bin/zsa-gateway" --check
"$bin/zsa-scheduler" --check
"$bin/zsa-scheduler" --metrics-listen "" >"$dir/scheduler.log" 2>&1 &
scheduler_pid=$!
bold "demo: scheduler pid $scheduler_pid (system_status every 5 s, recovery of lost jobs)"

gport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/zsa-gateway" --listen "127.0.0.1:$gport" --processes 1 >"$dir/gateway.log" 2>&1 &
gateway_pid=$!
# http METHOD PATH [BODY]: prints the JSON answer (python3 is a dependency; curl may be absent)
http() {
  python3 - "$gport" "$@" <<'PY'
import sys, urllib.request, urllib.error
port, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                             headers={"Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=5).read().decode().strip())
except urllib.error.HTTPError as e:
    print(e.read().decode().strip())
except OSError as e:
    print('{"error":"%s"}' % e)
PY
}
for _ in $(seq 1 200); do
  case "$(http GET /readyz)" in *'"ready":true'*) break ;; esac
  kill -0 "$gateway_pid" 2>/dev/null || { echo "demo: zsa-gateway failed:" >&2; cat "$dir/gateway.log" >&2; exit 1; }
  sleep 0.05
done
bold "demo: gateway pid $gateway_pid on 127.0.0.1:$gport (WebSocket /ws, REST /api, /metrics)"

mkdir -p "$dir/data"
worker_pids=()
for i in 1 2; do
  "$bin/zsa-worker" --worker-id "demo-w$i" --data-dir "$dir/data" --metrics-listen "" \
    >"$dir/worker$i.log" 2>&1 &
  worker_pids+=($!)
done
bold "demo: two workers running (logs in $dir/worker1.log, worker2.log)"

job='{"job_id":"demo1","image_id":"demo1","algorithm":"simulate","parameters":{"duration_seconds":4},"session_id":"demo"}'
bold "demo: validating the job with the schema table (zsa-proto check --wire job)"
printf '%s' "$job" | "$bin/zsa-proto" check --wire job
bad='{"image_id":"demo 2","algorithm":"simulate","parameters":{"sigma":1e999}}'
printf '%s' "$bad" | "$bin/zsa-proto" check --wire job || echo "(refused, as it should be)"

bold "demo: submitting it: POST /api/jobs"
http POST /api/jobs "$job"
status=""
for _ in $(seq 1 300); do
  mapfile -t f < <(http GET /api/jobs/demo1 | python3 -c '
import json, sys
j = json.load(sys.stdin)
for k in ("status", "progress", "current_step", "eta_seconds", "worker"):
    print(j.get(k, ""))')
  status=${f[0]:-} progress=${f[1]:-} step=${f[2]:-} eta=${f[3]:-} worker=${f[4]:-}
  p=${progress%.*}; p=${p:-0}
  bar=$(printf '%*s' $((p / 4)) '' | tr ' ' '#')
  printf '\r  [%-25s] %3s%%  %-14s ETA %5ss  on %s ' "$bar" "$p" "${step:-queued}" "${eta:-?}" "${worker:-?}"
  case "$status" in complete|failed|cancelled|dead) break ;; esac
  sleep 0.2
done
echo
bold "demo: job demo1 ended: $status"
http GET /api/results/demo1.r1
echo "events in the session stream zsa:events:demo: $(redis-cli -p "$port" XLEN zsa:events:demo)"

cat <<MSG

Running now: redis-server, zsa-gateway on 127.0.0.1:$gport, zsa-scheduler, two zsa-workers.
Submit more jobs:
  curl -s -XPOST 127.0.0.1:$gport/api/jobs -d '{"image_id":"a1","algorithm":"simulate","session_id":"s1"}'
  curl -s 127.0.0.1:$gport/api/jobs/<job_id>
  redis-cli -p $port LPUSH zsa:jobs '{"image_id":"a1","algorithm":"simulate","session_id":"s1"}'
Watch a session live: any WebSocket client on ws://127.0.0.1:$gport/ws?session_id=s1
Kill a worker (kill -9 <pid>) while a job runs: the scheduler requeues it within seconds.
Still missing: the dashboard, the real analyses (issue 6) and the zsa CLI (issue 7).
MSG

if [ "$bounded" = 1 ]; then
  exit 0
fi
bold "demo: Redis stays up until Ctrl-C"
wait "$redis_pid"
