#!/usr/bin/env bash
# make demo: a local zsa stack without containers. Starts redis-server on a private port in a
# temp dir, the scheduler, a gateway and two workers, makes a synthetic z-stack with a known
# answer, and runs `zsa submit --watch` for segmentation_3d on it: a live progress bar, then
# the object count next to the ground truth. The stack stays up until Ctrl-C, which stops
# everything it started and removes the temp dir. One demo at a time (a lock file says which).
# ZSA_DEMO_BOUNDED=1: run once and exit (the default without a terminal: tests and CI).
# ZSA_DEMO_HOLD=1: keep the stack up until a signal even without a terminal.
# ZSA_BIN_DIR: where the binaries are.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ZSA_BIN_DIR:-build/bin}
bounded=${ZSA_DEMO_BOUNDED:-0}
[ -t 0 ] || bounded=1
[ "${ZSA_DEMO_HOLD:-0}" = 1 ] && bounded=0

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

for b in zsa-gateway zsa-worker zsa-scheduler zsa-proto zsa-synth zsa; do
  [ -x "$bin/$b" ] || { echo "demo: $bin/$b is missing; run 'make' first" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "demo: redis-server is missing; run scripts/install-deps.sh" >&2; exit 1; }

# one demo at a time: a second one says where the first is instead of failing obscurely
lock="${TMPDIR:-/tmp}/zsa-demo.lock"
if [ -f "$lock" ]; then
  read -r other_pid other_url <"$lock" || true
  if [ -n "${other_pid:-}" ] && kill -0 "$other_pid" 2>/dev/null; then
    echo "demo: a demo is already running (pid $other_pid, gateway $other_url)." >&2
    echo "      Use it (ZSA_URL=$other_url build/bin/zsa status), or stop it with Ctrl-C in its terminal (or kill $other_pid)." >&2
    exit 1
  fi
  rm -f "$lock" # left by a demo that was killed
fi
echo "$$ starting" >"$lock"

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
  rm -f "$lock"
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

# access control as in production: a signing key only this demo knows, and a token for the
# demo's session (the CLI reads ZSA_TOKEN; the dashboard URL below carries it after '#')
(umask 077 && "$bin/zsa" keygen >"$dir/auth-keys")
export ZSA_AUTH_KEYS_FILE="$dir/auth-keys"
token=$("$bin/zsa" token --session demo --scope read,submit,control,admin --ttl 12h \
  --subject demo)
export ZSA_TOKEN="$token"
bold "demo: auth required; token for session demo (read, submit, control, admin; 12 h) in ZSA_TOKEN"

bold "demo: checking the configuration and Redis (--check)"
"$bin/zsa-gateway" --check --auth required
"$bin/zsa-scheduler" --check
"$bin/zsa-scheduler" --metrics-listen "" >"$dir/scheduler.log" 2>&1 &
scheduler_pid=$!
bold "demo: scheduler pid $scheduler_pid (system_status every 5 s, recovery of lost jobs)"

gport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir/data/results"
"$bin/zsa-gateway" --listen "127.0.0.1:$gport" --processes 1 --auth required \
  --results-dir "$dir/data/results" >"$dir/gateway.log" 2>&1 &
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
export ZSA_URL="http://127.0.0.1:$gport"
echo "$$ $ZSA_URL" >"$lock"
(umask 077 && printf '%s\n' "$token" >"$dir/token")

mkdir -p "$dir/data"
worker_pids=()
for i in 1 2; do
  "$bin/zsa-worker" --worker-id "demo-w$i" --data-dir "$dir/data" --metrics-listen "" \
    >"$dir/worker$i.log" 2>&1 &
  worker_pids+=($!)
done
bold "demo: two workers running (logs in $dir/worker1.log, worker2.log)"

bold "demo: validating a job with the schema table (zsa-proto check --wire job)"
job='{"job_id":"check1","image_id":"check1","algorithm":"simulate","parameters":{"duration_seconds":4},"session_id":"demo"}'
printf '%s' "$job" | "$bin/zsa-proto" check --wire job
bad='{"image_id":"demo 2","algorithm":"simulate","parameters":{"sigma":1e999}}'
printf '%s' "$bad" | "$bin/zsa-proto" check --wire job || echo "(refused, as it should be)"

stack="$dir/data/stack.tif"
bold "demo: a synthetic z-stack with a known answer (zsa-synth)"
"$bin/zsa-synth" --size 256x256x48 --radius 3,4 --truth "$dir/truth.csv" "$stack"
truth=$(($(wc -l <"$dir/truth.csv") - 1))

bold "demo: zsa submit $stack --algorithm segmentation_3d --watch"
set +e
if [ -t 1 ]; then
  "$bin/zsa" submit "$stack" --algorithm segmentation_3d --param sigma=1 --job-id demo1 \
    --session demo --watch
  rc=$?
else # without a terminal zsa prints JSON lines: keep them in a file, show the last
  "$bin/zsa" submit "$stack" --algorithm segmentation_3d --param sigma=1 --job-id demo1 \
    --session demo --watch --json >"$dir/events.jsonl"
  rc=$?
  echo "  $(wc -l <"$dir/events.jsonl") events; the last: $(tail -n 1 "$dir/events.jsonl" | cut -c1-160)..."
fi
set -e
[ "$rc" = 0 ] || { echo "demo: the segmentation did not complete (zsa exit $rc); logs in $dir" >&2; exit 1; }
found=$("$bin/zsa" --json result demo1 | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["summary"]["object_count"], "%.2f" % r["confidence_score"], r["result_id"])')
read -r objects confidence result_id <<<"$found"
bold "demo: job demo1 ended: complete: $objects objects (ground truth $truth), confidence $confidence"
[ "$objects" = "$truth" ] || echo "demo: warning: the object count differs from the ground truth" >&2
echo "events in the session stream zsa:events:demo: $(redis-cli -p "$port" XLEN zsa:events:demo)"

cat <<MSG

Running now: redis-server (127.0.0.1:$port), zsa-gateway ($ZSA_URL, auth required), zsa-scheduler,
two zsa-workers (data and results in $dir/data). In another terminal:
  export ZSA_URL=$ZSA_URL ZSA_TOKEN=\$(cat $dir/token)
  build/bin/zsa submit FILE.tif --algorithm segmentation_3d --param split=true --watch
  build/bin/zsa submit x --algorithm simulate --param duration_seconds=20 --watch   (Ctrl-C offers to cancel)
  build/bin/zsa watch --session demo          every event of this demo's session, live
  build/bin/zsa status                        queue, workers, GPU
  build/bin/zsa result demo1 --csv            the object table
  build/bin/zsa result demo1 --download out/  its files: preview.png, labels.tif, objects.csv
Over REST and Redis directly:
  curl -s -XPOST $ZSA_URL/api/jobs -H "Authorization: Bearer \$ZSA_TOKEN" \\
       -H 'Content-Type: application/json' -d '{"image_id":"a1","algorithm":"simulate"}'
  redis-cli -p $port LPUSH zsa:jobs '{"image_id":"a1","algorithm":"simulate","session_id":"demo"}'
  build/bin/zsa token --session demo --scope read --ttl 1h   (ZSA_AUTH_KEYS_FILE=$dir/auth-keys)
Dashboard (the jobs of this session, live; submit more from its form), token included:
  $ZSA_URL/?session=demo#token=$token
and demo1's result (preview with the objects outlined, summary, object table, downloads):
  $ZSA_URL/results/$result_id?session=demo#token=$token
WebSocket: ws://127.0.0.1:$gport/ws?session_id=demo, first message {"type":"auth","token":...};
metrics: curl -H "Authorization: Bearer \$ZSA_TOKEN" $ZSA_URL/metrics.
Kill a worker (kill -9 <pid>) while a job runs: the scheduler requeues it within seconds.
MSG

if [ "$bounded" = 1 ]; then
  exit 0
fi
bold "demo: the stack stays up until Ctrl-C"
wait "$redis_pid"
