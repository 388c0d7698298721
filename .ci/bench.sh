#!/usr/bin/env bash
# Request rates of GET /notes (100 notes) and POST /notes, on a release build.
#   .ci/bench.sh                          # SQLite, a temp file
#   BENCH_DATABASE_URL=postgres://... .ci/bench.sh   # an existing (empty or disposable) database
# The server runs on core 0 and wrk on core 1 (2-core machines); compare figures from one
# run, not across machines. Not part of CI: a benchmark asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
port=${BENCH_PORT:-18080}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet --workspace
target=${CARGO_TARGET_DIR:-target}/release
tmp=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
url=${BENCH_DATABASE_URL:-sqlite://$tmp/bench.db?mode=rwc}

DATABASE_URL=$url "$target/migration" fresh >/dev/null 2>&1
DATABASE_URL=$url APP_ENV=production APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT=$port \
  APP__LOG__LEVEL=warn taskset -c 0 "$target/notes-service" >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  "$target/notes-service" healthcheck --port "$port" 2>/dev/null && break
  sleep 0.1
done

for i in $(seq 100); do
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/notes" \
    -H 'content-type: application/json' -d "{\"text\":\"note $i\",\"completed\":false}"
done
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"a benchmark note","completed":false}'
LUA

echo "backend: ${url%%:*}, ${duration}s per run, $connections connections"
echo "GET /notes (100 notes):"
taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" "http://127.0.0.1:$port/notes" | grep -E 'Requests/sec|Latency|Non-2xx'
echo "POST /notes:"
taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" -s "$tmp/post.lua" "http://127.0.0.1:$port/notes" | grep -E 'Requests/sec|Latency|Non-2xx'
