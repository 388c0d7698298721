#!/usr/bin/env bash
# What do events cost? On a release build, against a local receiver that answers at once
# (bench/receiver.py), with the service on core 0 and wrk and the receiver on core 1:
#   1. commit to delivery with an idle queue: BENCH_SAMPLES (200) POST /notes one at a time,
#      20 ms apart, each with one subscription; p50, p99 and max from the event's timestamp
#      (taken in the write's transaction) to its arrival at the receiver;
#   2. POST /notes at c=BENCH_CONNECTIONS for BENCH_SECONDS: with the subscription disabled
#      (no event); enabled, the same process's workers delivering meanwhile (one delivery per
#      note, on the same core); enabled, the process running no workers (jobs.workers = 0),
#      what the write itself pays; req/s and the ratios to the first;
#   3. a backlog: BENCH_DELIVERIES (10,000) or more deliveries enqueued by that process
#      (the end of step 2, topped up), then drained by one `notes-service worker` with
#      default settings; deliveries per second from its start to the last arrival.
# Default settings throughout, except the receiver's address (webhooks.allow_private_networks).
#
#   bench/events.sh                                              # SQLite, a temp file
#   BENCH_DATABASE_URL=postgres://USER:PASS@HOST:5432/DB bench/events.sh   # WIPED (migration fresh)
#   BENCH_SECONDS=1 BENCH_DELIVERIES=1000 BENCH_SAMPLES=50 bench/events.sh  # a smoke run
#
# Settings (environment): BENCH_SECONDS (10), BENCH_CONNECTIONS (16), BENCH_DELIVERIES (10000),
# BENCH_SAMPLES (200), BENCH_PORT (18180; the receiver uses the next port).
# Exits non-zero when a process does not start, a request fails or deliveries stop arriving.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-16}
deliveries=${BENCH_DELIVERIES:-10000}
samples=${BENCH_SAMPLES:-200}
port=${BENCH_PORT:-18180}
receiver_port=$((port + 1))
base="http://127.0.0.1:$port"
hooks="http://127.0.0.1:$receiver_port"

die() { echo "events: $*" >&2; exit 1; }
say() { echo "events: $*" >&2; }
for tool in wrk curl python3 taskset; do command -v $tool >/dev/null || die "$tool is missing"; done

tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

say "building the release binaries"
cargo build --release --quiet --workspace
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target/release/notes-service
migrator=$target/release/migration
url=${BENCH_DATABASE_URL:-sqlite://$tmp/events.db?mode=rwc}
DATABASE_URL=$url "$migrator" fresh >"$tmp/migration.log" 2>&1 ||
  { cat "$tmp/migration.log" >&2; die "migration fresh failed (its output is above)"; }

taskset -c 1 python3 bench/receiver.py "$receiver_port" &
pids+=($!)

service=''
start() { # $@ = extra arguments (worker) and settings; the service on core 0, ready
  local -a settings=() args=()
  for a in "$@"; do if [[ $a == *=* ]]; then settings+=("$a"); else args+=("$a"); fi; done
  env DATABASE_URL="$url" APP_ENV=production APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="$port" \
    APP__SERVER__DRAIN_SECONDS=0 APP__LOG__LEVEL=warn APP__WEBHOOKS__ALLOW_PRIVATE_NETWORKS=true \
    "${settings[@]}" taskset -c 0 "$bin" "${args[@]}" >>"$tmp/service.log" 2>&1 &
  service=$!
  pids+=("$service")
  for _ in $(seq 300); do
    curl -sf -o /dev/null --max-time 1 "$base/health/ready" && return 0
    kill -0 "$service" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$tmp/service.log" >&2
  die "the service did not start (its log is above)"
}
stop() { kill "$service"; wait "$service" 2>/dev/null || true; }
received() { curl -sf "$hooks/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
until_received() { # $1 = count; fails if deliveries stop arriving for 30 s
  local last=-1 since=$SECONDS n
  while n=$(received count); ((n < $1)); do
    if ((n != last)); then last=$n since=$SECONDS; fi
    ((SECONDS - since < 30)) || die "deliveries stopped at $n of $1"
    sleep 0.05
  done
}
for _ in $(seq 50); do curl -sf -o /dev/null "$hooks/stats" && break; sleep 0.1; done

cat >"$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"text":"an event"}'
wrk.headers["Content-Type"] = "application/json"
EOF
post_rate() { # req/s of POST /notes; fails on any non-2xx
  local out
  out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" -s "$tmp/post.lua" "$base/notes")
  ! grep -q "Non-2xx" <<<"$out" || { echo "$out" >&2; die "POST /notes answered non-2xx"; }
  awk '/Requests\/sec/ {print int($2)}' <<<"$out"
}
note_count() { curl -sf -o /dev/null -D - -H 'prefer: count=exact' "$base/notes?limit=1" | awk -F': ' 'tolower($1)=="x-total-count" {print $2+0}'; }

start
webhook=$(curl -sf "$base/webhooks" -H 'content-type: application/json' \
  -d "{\"url\":\"$hooks/hook\",\"events\":[\"note.created\"]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

say "1. commit to delivery, idle queue: $samples notes, one at a time"
curl -sf -X POST "$hooks/reset"
for _ in $(seq "$samples"); do
  curl -sf -o /dev/null "$base/notes" -H 'content-type: application/json' -d '{"text":"idle"}'
  sleep 0.02
done
until_received "$samples"
idle=$(curl -sf "$hooks/stats")

say "2. POST /notes for ${seconds}s: no subscription; one, delivered by this process; one, workers elsewhere"
curl -sf -o /dev/null -X PATCH "$base/webhooks/$webhook" -H 'content-type: application/merge-patch+json' -d '{"enabled":false}'
plain=$(post_rate)
curl -sf -o /dev/null -X PATCH "$base/webhooks/$webhook" -H 'content-type: application/merge-patch+json' -d '{"enabled":true}'
curl -sf -X POST "$hooks/reset"
before=$(note_count)
delivering=$(post_rate)
until_received $(($(note_count) - before))
stop
# The API running no workers: what the write itself pays for its event. Its deliveries stay
# queued and start the backlog of step 3.
start APP__JOBS__WORKERS=0
before=$(note_count)
enqueuing=$(post_rate)

say "3. a backlog of $deliveries deliveries, drained by one worker process"
cat >"$tmp/backlog.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"text":"backlog"}'
wrk.headers["Content-Type"] = "application/json"
EOF
# wrk runs for its whole duration: stopped here once the backlog is there.
taskset -c 1 wrk -t1 -c"$connections" -d600s -s "$tmp/backlog.lua" "$base/notes" >/dev/null &
load=$!
while (($(note_count) - before < deliveries)); do
  kill -0 "$load" 2>/dev/null || die "wrk stopped before the backlog was made"
  sleep 0.2
done
kill "$load"
wait "$load" 2>/dev/null || true
backlog=$(($(note_count) - before))
stop
curl -sf -X POST "$hooks/reset"
started=$(date +%s.%N)
start worker
until_received "$backlog"
last=$(received last)
stop

python3 - "$idle" "$plain" "$delivering" "$enqueuing" "$backlog" "$started" "$last" <<'EOF'
import json, sys
idle, plain, delivering, enqueuing, backlog, started, last = sys.argv[1:]
idle = json.loads(idle)
rate = int(backlog) / max(float(last) - float(started), 1e-3)
print(f"commit to delivery, idle queue ({idle['count']} events): p50 {idle['p50_ms']} ms, "
      f"p99 {idle['p99_ms']} ms, max {idle['max_ms']} ms   (target: p99 <= 100 ms)")
print(f"POST /notes: {plain} req/s without a subscription; with one, {enqueuing} when other "
      f"processes deliver ({int(enqueuing) / max(int(plain), 1):.2f}x, target >= 0.8x), "
      f"{delivering} when this process delivers too ({int(delivering) / max(int(plain), 1):.2f}x)")
print(f"backlog: {backlog} deliveries drained by one worker process in "
      f"{float(last) - float(started):.1f} s: {rate:.0f}/s   (target: >= 1000/s)")
EOF
