#!/usr/bin/env bash
# What `database.transaction_pooling` and PgBouncer cost, as ratios from one session: three
# (or four) release services at once on one PostgreSQL database, each pinned to core 0 and
# loaded in turn by wrk on core 1, rounds alternating between them so that other work on the
# machine hits all alike:
#   A  BENCH_DATABASE_URL directly, default settings;
#   B  BENCH_DATABASE_URL directly, APP__DATABASE__TRANSACTION_POOLING=true;
#   C  BENCH_POOLER_URL (the same database through PgBouncer in transaction mode), with it;
#   D  if BENCH_PREPARED_POOLER_URL is set: the same database through a PgBouncer >= 1.21 in
#      transaction mode with max_prepared_statements, default settings (statements cached).
# Prints req/s and p99 per request and set-up (medians of the rounds) and B/A, C/A (, D/A).
#
#   BENCH_DATABASE_URL=postgres://notes:notes@127.0.0.1:5432/notes \
#   BENCH_POOLER_URL=postgres://notes@127.0.0.1:6432/notes \
#   BENCH_PREPARED_POOLER_URL=postgres://notes@127.0.0.1:6433/notes bench/pooling.sh
#
# The database must hold notes already (bench/run.sh leaves its large table behind); POST
# adds some. Settings: BENCH_SECONDS per measurement (5), BENCH_ROUNDS (3),
# BENCH_CONNECTIONS (16), BENCH_PORT (first of four ports, 18091). Needs wrk, taskset, psql.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

direct=${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL (PostgreSQL, directly)}
pooled=${BENCH_POOLER_URL:?set BENCH_POOLER_URL (the same database through PgBouncer)}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
connections=${BENCH_CONNECTIONS:-16}
port=${BENCH_PORT:-18091}
die() { echo "pooling: $*" >&2; exit 1; }
for tool in wrk taskset psql; do command -v "$tool" >/dev/null || die "$tool is missing"; done

cargo build --release --quiet --workspace
bin=${CARGO_TARGET_DIR:-target}/release/notes-service
tmp=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

names=(A B C)
urls=("$direct" "$direct" "$pooled")
pooling=(false true true)
if [ -n "${BENCH_PREPARED_POOLER_URL:-}" ]; then
  names+=(D) urls+=("$BENCH_PREPARED_POOLER_URL") pooling+=(false)
fi
services=$(seq 0 $((${#names[@]} - 1)))
for i in $services; do
  DATABASE_URL=${urls[$i]} APP_ENV=production APP__SERVER__HOST=127.0.0.1 \
    APP__SERVER__PORT=$((port + i)) APP__SERVER__DRAIN_SECONDS=0 \
    APP__DATABASE__TRANSACTION_POOLING=${pooling[$i]} APP__LOG__LEVEL=warn \
    taskset -c 0 "$bin" >"$tmp/service-${names[$i]}.log" 2>&1 &
  pids+=($!)
done
for i in $services; do
  for attempt in $(seq 100); do
    DATABASE_URL=${urls[$i]} APP_ENV=production APP__DATABASE__TRANSACTION_POOLING=${pooling[$i]} \
      "$bin" healthcheck --port $((port + i)) >/dev/null 2>&1 && break
    [ "$attempt" = 100 ] && { cat "$tmp/service-${names[$i]}.log" >&2; die "service ${names[$i]} is not ready"; }
    sleep 0.2
  done
done

id=$(psql -X -A -t -d "$direct" -c "SELECT id FROM notes ORDER BY id OFFSET (SELECT COUNT(*) / 2 FROM notes) LIMIT 1")
[ -n "$id" ] || die "the database holds no notes: run bench/run.sh on it first"
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"a benchmark note","completed":false}'
LUA
declare -A title=([list]="GET /notes?limit=100" [get]="GET /notes/{id}" [post]="POST /notes")
for i in $services; do taskset -c 1 wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$((port + i))/notes?limit=100" >/dev/null; done
read -r load_before _ </proc/loadavg
for round in $(seq "$rounds"); do
  echo "pooling: round $round of $rounds" >&2
  for request in list get post; do
    for i in $services; do
      base=http://127.0.0.1:$((port + i))
      case $request in
        list) args=("$base/notes?limit=100") ;;
        get) args=("$base/notes/$id") ;;
        post) args=(-s "$tmp/post.lua" "$base/notes") ;;
      esac
      out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s --latency "${args[@]}")
      if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "$out" >&2; die "${names[$i]}: some requests failed"; fi
      # p99 in ms, whatever unit wrk chose (us, ms, s).
      awk -v r="$request" -v n="${names[$i]}" '$1 == "Requests/sec:" { rps = $2 }
        $1 == "99%" { v = $2 + 0; if ($2 ~ /us$/) v /= 1000; else if ($2 ~ /[^m]s$/) v *= 1000; p99 = v }
        END { printf "%s %s %.0f %.1f\n", r, n, rps, p99 }' <<<"$out" >>"$tmp/results"
    done
  done
done
read -r load_after _ </proc/loadavg

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "notes-service, $(git describe --always --dirty 2>/dev/null || echo 'commit unknown'): wrk -t1 -c$connections, ${seconds} s, medians of $rounds rounds;" \
  "load average $load_before at the start, $load_after at the end"
echo "A direct; B direct, transaction_pooling = true; C through the pooler, transaction_pooling = true"
[ "${#names[@]}" = 4 ] && echo "D through the prepared-statement pooler, transaction_pooling = false"
printf '%-22s' request
for name in "${names[@]}"; do printf ' %16s' "$name req/s (p99)"; done
for name in "${names[@]:1}"; do printf ' %6s' "$name/A"; done
echo
for request in list get post; do
  declare -A rps=() p99=()
  for name in "${names[@]}"; do
    rps[$name]=$(awk -v r="$request" -v n="$name" '$1 == r && $2 == n { print $3 }' "$tmp/results" | median)
    p99[$name]=$(awk -v r="$request" -v n="$name" '$1 == r && $2 == n { print $4 }' "$tmp/results" | median)
  done
  printf '%-22s' "${title[$request]}"
  for name in "${names[@]}"; do printf ' %16s' "${rps[$name]} (${p99[$name]}ms)"; done
  for name in "${names[@]:1}"; do
    printf ' %6s' "$(awk -v a="${rps[$name]}" -v b="${rps[A]}" 'BEGIN { printf "%.2f", a / b }')"
  done
  echo
done
