#!/usr/bin/env bash
# Does the cost of a request grow with the data? Measures the notes API on a 100-note table
# and on a large one (BENCH_NOTES, default 1,000,000), in one run, on a release build:
# the first page of GET /notes, cursor pages 90% deep (plain, filtered, newest first),
# GET /notes/{id} and POST /notes. Prints one table of req/s and p99 latency with the
# large÷small ratios, the depth ratios within the large table, and the service's peak RSS.
#
#   bench/run.sh                                         # SQLite, a temp file
#   BENCH_DATABASE_URL=postgres://USER:PASS@HOST:5432/DB bench/run.sh
#   BENCH_DATABASE_URL=mysql://USER:PASS@HOST:3306/DB bench/run.sh     # MySQL or MariaDB
#   BENCH_NOTES=1000 BENCH_SECONDS=1 bench/run.sh        # a quick smoke run
#
# BENCH_DATABASE_URL must name a database the script may WIPE: it runs `migration fresh`
# there, and leaves the large table behind. Other settings: BENCH_NOTES (1000000),
# BENCH_SECONDS per measurement (10), BENCH_CONNECTIONS (16), BENCH_PORT (18080),
# BENCH_SERVICE_DATABASE_URL (the service's own URL, default BENCH_DATABASE_URL: the same
# database through a pooler such as PgBouncer, while migrations and the bulk load go to the
# server). APP__* variables reach the service (APP__DATABASE__TRANSACTION_POOLING=true, say).
#
# The tables are filled with bulk SQL through the database's own client (sqlite3, psql, or
# mariadb/mysql), not over HTTP. The service runs on core 0 and wrk on core 1 (2-core
# machines): compare figures within one run, not across runs or machines.
# Exits non-zero when the service does not start or any request fails or answers non-2xx.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

notes=${BENCH_NOTES:-1000000}
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-16}
port=${BENCH_PORT:-18080}
small=100
page=100          # the limit of every list request
base=http://127.0.0.1:$port

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }
need() { command -v "$1" >/dev/null || die "$1 is missing (on Debian/Ubuntu: apt-get install $2)"; }

[[ $notes =~ ^[0-9]+$ && $notes -ge 1000 ]] || die "BENCH_NOTES must be a number of at least 1000"
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || die "BENCH_SECONDS must be a whole number of seconds"
[[ $connections =~ ^[0-9]+$ && $connections -ge 1 ]] || die "BENCH_CONNECTIONS must be a number"
need wrk wrk
need taskset util-linux
need curl curl

# ---------------------------------------------------------------------------------------------
# The database: its URL for the service, and `sql` to run statements through its own client.
tmp=$(mktemp -d)
server='' sampler=''
cleanup() {
  if [[ -n $sampler ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
  if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url=${BENCH_DATABASE_URL:-sqlite://$tmp/bench.db?mode=rwc}
case $url in
  sqlite:*)
    backend=sqlite
    need sqlite3 sqlite3
    sqlite_file=${url#sqlite:}
    sqlite_file=${sqlite_file#//}
    sqlite_file=${sqlite_file%%\?*}
    [[ -n $sqlite_file && $sqlite_file != :memory:* ]] || die "BENCH_DATABASE_URL: give SQLite a file, not memory"
    sql() { sqlite3 -batch -bail -noheader -separator $'\t' -cmd '.timeout 10000' "$sqlite_file" "$1"; }
    ;;
  postgres:* | postgresql:*)
    backend=postgres
    need psql postgresql-client
    sql() { psql -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 -d "$url" -c "$1"; }
    ;;
  mysql:* | mariadb:*)
    backend=mysql
    mysql_client=$(command -v mariadb || command -v mysql) || die "mariadb is missing (on Debian/Ubuntu: apt-get install mariadb-client)"
    # mysql://USER:PASS@HOST:PORT/DB -> an option file, so the password stays off the command line.
    decode() { local s=${1//\\/\\\\}; printf '%b' "${s//%/\\x}"; } # percent-decoding
    cnf_quote() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }
    rest=${url#*://}
    rest=${rest%%\?*}
    [[ $rest == */* ]] || die "BENCH_DATABASE_URL: no database name in the URL"
    db_name=${rest##*/} rest=${rest%%/*}
    userinfo='' hostport=$rest
    if [[ $rest == *@* ]]; then userinfo=${rest%@*} hostport=${rest##*@}; fi
    db_user=${userinfo%%:*} db_pass=''
    if [[ $userinfo == *:* ]]; then db_pass=${userinfo#*:}; fi
    db_host=${hostport%:*} db_port=3306
    if [[ $hostport == *:* ]]; then db_port=${hostport##*:}; fi
    (umask 077 && printf '[client]\nprotocol=tcp\nhost=%s\nport=%s\nuser=%s\npassword=%s\ndatabase=%s\n' \
      "$db_host" "$db_port" "$(cnf_quote "$(decode "$db_user")")" "$(cnf_quote "$(decode "$db_pass")")" \
      "$(cnf_quote "$(decode "$db_name")")" >"$tmp/client.cnf")
    sql() { "$mysql_client" --defaults-extra-file="$tmp/client.cnf" -N -B -e "$1"; }
    ;;
  *) die "BENCH_DATABASE_URL must start with sqlite:, postgres:, postgresql: or mysql:" ;;
esac

# ---------------------------------------------------------------------------------------------
# The service.
say "building the release binaries"
cargo build --release --quiet --workspace
bin=${CARGO_TARGET_DIR:-target}/release

start_server() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use: set BENCH_PORT"
  fi
  # No balancer in front: no drain when the script stops it.
  DATABASE_URL=${BENCH_SERVICE_DATABASE_URL:-$url} APP_ENV=production APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT=$port \
    APP__SERVER__DRAIN_SECONDS=0 \
    APP__LOG__LEVEL=warn taskset -c 0 "$bin/notes-service" >>"$tmp/server.log" 2>&1 &
  server=$!
  for _ in $(seq 150); do
    if ! kill -0 "$server" 2>/dev/null; then
      server=''
      tail -n 20 "$tmp/server.log" >&2
      die "the service exited during start-up (its log is above)"
    fi
    # The same settings as the service: the probe validates them too.
    DATABASE_URL=${BENCH_SERVICE_DATABASE_URL:-$url} APP_ENV=production \
      "$bin/notes-service" healthcheck --port "$port" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  tail -n 20 "$tmp/server.log" >&2
  die "the service was not ready after 30 s (its log is above)"
}

stop_server() {
  kill "$server"
  wait "$server" || true
  server=''
}

# ---------------------------------------------------------------------------------------------
# The data: `migration fresh`, one note created through the API (so the timestamp columns hold
# exactly what the service writes), then COUNT-1 more by bulk SQL with the same timestamps,
# alternately not completed and completed. Only these four columns are written: columns added
# later with defaults keep their defaults.
fill_table() { # $1 = how many notes
  local count=$1 created updated started inserted
  DATABASE_URL=$url "$bin/migration" fresh >"$tmp/migration.log" 2>&1 ||
    { cat "$tmp/migration.log" >&2; die "migration fresh failed (its output is above)"; }
  start_server
  curl -sS -f -o "$tmp/template.json" "$base/notes" \
    -H 'content-type: application/json' -d '{"text":"note 1","completed":false}' ||
    die "POST /notes failed while creating the first note"
  stop_server

  case $backend in
    sqlite) IFS=$'\t' read -r created updated < <(sql "SELECT quote(created_at), quote(updated_at) FROM notes") ;;
    postgres) IFS=$'\t' read -r created updated < <(sql "SELECT quote_literal(created_at) || '::timestamptz',
                                                                quote_literal(updated_at) || '::timestamptz' FROM notes") ;;
    mysql) IFS=$'\t' read -r created updated < <(sql "SELECT QUOTE(created_at), QUOTE(updated_at) FROM notes") ;;
  esac
  [[ -n $created && -n $updated ]] || die "cannot read the first note back from the database"

  started=$EPOCHREALTIME
  case $backend in
    sqlite)
      sql "WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < $count)
           INSERT INTO notes (text, completed, created_at, updated_at)
           SELECT 'note ' || n, n % 2 = 0, $created, $updated FROM g;" ;;
    postgres)
      sql "INSERT INTO notes (text, completed, created_at, updated_at)
           SELECT 'note ' || n, n % 2 = 0, $created, $updated FROM generate_series(2, $count) AS g(n);" ;;
    mysql)
      local depth=cte_max_recursion_depth # MySQL's name; MariaDB's is max_recursive_iterations
      [[ $(sql "SELECT VERSION()") == *MariaDB* ]] && depth=max_recursive_iterations
      sql "SET SESSION $depth = $count;
           INSERT INTO notes (text, completed, created_at, updated_at)
           WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < $count)
           SELECT CONCAT('note ', n), n % 2 = 0, $created, $updated FROM g;" ;;
  esac
  inserted=$EPOCHREALTIME
  case $backend in
    sqlite) sql "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null ;;
    postgres) sql "VACUUM (ANALYZE) notes;" ;;
    mysql) sql "ANALYZE TABLE notes;" >/dev/null ;;
  esac
  load_insert=$(awk -v a="$started" -v b="$inserted" 'BEGIN { printf "%.2f", b - a }')
  load_analyze=$(awk -v a="$inserted" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')

  local have
  have=$(sql "SELECT COUNT(*) FROM notes")
  ((have == count)) || die "the table holds $have notes, not $count"
}

id_at() { sql "SELECT id FROM notes ORDER BY id LIMIT 1 OFFSET $1"; } # $1 = how many ids come before it

# ---------------------------------------------------------------------------------------------
# Measuring. Results go into these arrays, keyed "TABLE,REQUEST" (TABLE = its number of notes).
declare -A rps p99 rows first_ids peak_rss
requests=(first cursor filtered desc get post)
declare -A title=(
  [first]="GET /notes?limit=$page (first page)"
  [cursor]="  after=<id at 90%>"
  [filtered]="  after=<id at 90%>&completed=true"
  [desc]="  order=desc&after=<id at 10%>"
  [get]="GET /notes/{id} (a middle id)"
  [post]="POST /notes"
)
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"a benchmark note","completed":false}'
LUA

check() { # $1 = table, $2 = request, $3 = path: one GET by curl, which must answer 2xx
  local status
  status=$(curl -sS -o "$tmp/body.json" -w '%{http_code}' "$base$3") || die "GET $3: no answer"
  [[ $status == 2?? ]] || die "GET $3 answered $status: $(head -c 300 "$tmp/body.json")"
  rows[$1,$2]=$(grep -o '"id":' "$tmp/body.json" | wc -l)
  first_ids[$1,$2]=$(grep -o '"id":[0-9]*' "$tmp/body.json" | head -n 1 | cut -d: -f2)
}

# wrk's own timeout is 2 s, and requests over it are counted as errors and left out of the
# latencies: 10 s keeps a slow page (say, one that counts a large table) in the figures.
measure() { # $1 = table, $2 = request, then wrk's arguments
  local table=$1 request=$2 out
  shift 2
  out=$(taskset -c 1 wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s --latency "$@") ||
    die "wrk failed on ${title[$request]}: $out"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "$out" >&2
    die "${title[$request]} on the $table-note table: some requests failed (wrk's report is above)"
  fi
  rps[$table,$request]=$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' <<<"$out")
  p99[$table,$request]=$(awk '$1 == "99%" { print $2 }' <<<"$out")
}

# Samples the service's resident memory (KiB) every 0.2 s, on wrk's core, until stopped.
start_sampler() { # $1 = table
  while kill -0 "$server" 2>/dev/null; do ps -o rss= -p "$server" || true; sleep 0.2; done >"$tmp/rss-$1" &
  sampler=$!
  taskset -cp 1 "$sampler" >/dev/null
}
stop_sampler() { # $1 = table
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  sampler=''
  peak_rss[$1]=$(sort -n "$tmp/rss-$1" | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }')
}

bench_table() { # $1 = how many notes
  local table=$1 request
  say "$table-note table: creating it"
  fill_table "$table"
  say "$table-note table: created in $load_insert s, analyzed in $load_analyze s"

  # Ids from the database, not assumed. The two cursors leave exactly 10% of the table beyond
  # them in their listing order: `deep` for ascending pages, `shallow` for order=desc.
  local deep shallow middle first_page="/notes?limit=$page"
  deep=$(id_at $((table - table / 10 - 1)))
  shallow=$(id_at $((table / 10)))
  middle=$(id_at $((table / 2)))
  local -A paths=(
    [first]=$first_page
    [cursor]="$first_page&after=$deep"
    [filtered]="$first_page&after=$deep&completed=true"
    [desc]="$first_page&order=desc&after=$shallow"
    [get]="/notes/$middle"
  )
  start_server
  for request in first cursor filtered desc get; do check "$table" $request "${paths[$request]}"; done

  # Warm up (open the pool's connections, prepare the statements), then measure.
  taskset -c 1 wrk -t1 -c"$connections" -d"$(((seconds + 4) / 5))s" "$base$first_page" >/dev/null
  say "$table-note table: measuring, ${seconds} s per request"
  start_sampler "$table"
  for request in first cursor filtered desc get; do measure "$table" $request "$base${paths[$request]}"; done
  measure "$table" post -s "$tmp/post.lua" "$base/notes" # last: it grows the table
  stop_sampler "$table"
  stop_server
}

say "backend $backend; tables of $small and $notes notes; wrk -c$connections, ${seconds} s per request"
read -r load_before _ </proc/loadavg
bench_table $small
bench_table "$notes"

# ---------------------------------------------------------------------------------------------
# The report.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '%-36s %11s %9s %15s %9s %11s\n' "$@"; }
echo
echo "notes-service on $backend, $(git describe --always --dirty 2>/dev/null || echo 'commit unknown');" \
  "wrk -t1 -c$connections, ${seconds} s per request; service on core 0, wrk on core 1"
read -r load_after _ </proc/loadavg
echo "Load average (1 min) $load_before at the start, $load_after at the end: other work on the machine skews the figures."
echo
row request "$small notes" "" "$notes notes" "" "$notes÷$small"
row "" "req/s" p99 "req/s" p99 "req/s"
for request in "${requests[@]}"; do
  row "${title[$request]}" "${rps[$small,$request]}" "${p99[$small,$request]}" \
    "${rps[$notes,$request]}" "${p99[$notes,$request]}" "$(ratio "${rps[$notes,$request]}" "${rps[$small,$request]}")"
done
echo
echo "Depth in the $notes-note table: req/s of a page 90% deep ÷ req/s of the first page (1.00 = depth costs nothing)"
for request in cursor filtered desc; do
  printf '  %-34s %6s\n' "${title[$request]#  }" "$(ratio "${rps[$notes,$request]}" "${rps[$notes,first]}")"
done
echo
echo "Rows per page, $small / $notes notes: first ${rows[$small,first]} / ${rows[$notes,first]}," \
  "after ${rows[$small,cursor]} / ${rows[$notes,cursor]}, completed ${rows[$small,filtered]} / ${rows[$notes,filtered]}," \
  "desc ${rows[$small,desc]} / ${rows[$notes,desc]}."
if ((rows[$small,cursor] < page || rows[$small,filtered] < page || rows[$small,desc] < page)); then
  echo "On the $small-note table the deep pages return fewer than $page rows, so they cost less there."
fi
if [[ ${first_ids[$notes,cursor]} == "${first_ids[$notes,first]}" ]]; then
  echo "NOTE: this service ignores 'after' (it has no keyset pagination): the deep pages above are first pages."
fi
echo "Peak RSS of the service (ps every 0.2 s): ${peak_rss[$notes]} MiB in the $notes-note run," \
  "${peak_rss[$small]} MiB in the $small-note run."
echo "Creating the $notes-note table took $load_insert s of bulk SQL ($(ratio "$notes" "$load_insert" | cut -d. -f1)" \
  "notes/s), then $load_analyze s to analyze it."
